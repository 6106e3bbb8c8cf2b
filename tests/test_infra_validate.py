"""``terraform validate`` where this machine has a terraform binary and a local mirror of the
AWS provider (no provider can be downloaded here): environments/dev with the vpc, eks and
data modules, and infra/bootstrap. Skipped with the reason elsewhere; the python-hcl2 tests
(test_infra_terraform.py) run everywhere.

Only the AWS provider is mirrored, so a copy of the tree is validated with what needs the
others left out: the observability module (helm_release) and its outputs, the helm provider,
and the tls_certificate lookup of the EKS OIDC thumbprint (a fixed value stands in).
Set MSAI_TF_PLUGIN_DIR to another filesystem mirror.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.infra_support import INFRA

MIRROR = Path(os.environ.get("MSAI_TF_PLUGIN_DIR", "/opt/tf-plugins"))
AWS = MIRROR / "registry.terraform.io" / "hashicorp" / "aws"
TERRAFORM = shutil.which("terraform")

needs_terraform = pytest.mark.skipif(
    TERRAFORM is None or not AWS.is_dir(),
    reason=f"needs a terraform binary and an AWS provider mirror at {AWS} (none downloadable)",
)


def remove_block(text: str, header: str) -> str:
    """``text`` without the block that starts with ``header`` (up to its matching brace)."""
    start = text.find(header)
    assert start >= 0, f"no block {header!r}"
    depth, i = 0, text.index("{", start)
    while True:
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[:start] + text[i + 1 :]
        i += 1


def _edit(path: Path, *steps: Any) -> None:
    text = path.read_text()
    for step in steps:
        text = step(text)
    path.write_text(text)


def _prepare(tmp: Path) -> Path:
    tree = tmp / "infra"
    shutil.copytree(INFRA, tree, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    eks = tree / "modules" / "eks"
    _edit(
        eks / "main.tf",
        lambda t: remove_block(t, 'data "tls_certificate" "oidc"'),
        lambda t: t.replace(
            "[data.tls_certificate.oidc.certificates[0].sha1_fingerprint]",
            '["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]',
        ),
    )
    env = tree / "environments" / "dev"
    for folder in (eks, env):
        _edit(
            folder / "versions.tf",
            lambda t: remove_block(t, "tls = {"),
            lambda t: remove_block(t, "helm = {") if "helm = {" in t else t,
        )
    _edit(env / "providers.tf", lambda t: remove_block(t, 'provider "helm"'))
    _edit(env / "main.tf", lambda t: remove_block(t, 'module "observability"'))
    _edit(
        env / "outputs.tf",
        lambda t: remove_block(t, 'output "log_group_names"'),
        lambda t: re.sub(r"module\.observability\.\w+", "null", t),
    )
    _edit(env / "versions.tf", lambda t: remove_block(t, 'backend "s3"'))
    rc = tmp / "terraform.rc"
    rc.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{MIRROR}"\n'
        '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
        '  direct { exclude = ["registry.terraform.io/hashicorp/aws"] }\n}\n'
    )
    return tree


def _describe(diag: dict[str, Any]) -> str:
    where = diag.get("range", {})
    line = where.get("start", {}).get("line")
    at = f"{where.get('filename')}:{line}"
    return f"{diag['severity']}: {diag['summary']}: {diag.get('detail', '')} ({at})"


def _validate(folder: Path, rc: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(rc),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "TF_DATA_DIR": str(folder / ".terraform"),
    }
    assert TERRAFORM is not None
    init = subprocess.run(
        [TERRAFORM, "init", "-backend=false", "-input=false", "-no-color"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert init.returncode == 0, f"terraform init in {folder.name}: {init.stderr[-3000:]}"
    out = subprocess.run(
        [TERRAFORM, "validate", "-json", "-no-color"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@needs_terraform
def test_terraform_validate(tmp_path: Path) -> None:
    tree = _prepare(tmp_path)
    roots = {"environments/dev": tree / "environments" / "dev", "bootstrap": tree / "bootstrap"}
    # Both at once: each validate spends most of its time loading the provider's schema.
    with ThreadPoolExecutor(len(roots)) as pool:
        rc = tmp_path / "terraform.rc"
        results = dict(
            zip(roots, pool.map(lambda f: _validate(f, rc), roots.values()), strict=True)
        )
    for name, result in results.items():
        problems = [_describe(d) for d in result["diagnostics"]]
        assert result["valid"], f"terraform validate {name}: {problems}"
        assert not problems, f"terraform validate {name} warns: {problems}"


def test_remove_block_removes_nested_block_only() -> None:
    text = 'keep = 1\nblock "y" {\n  n { m = { k = 1 } }\n}\nblock "z" {}\n'
    assert remove_block(text, 'block "y"') == 'keep = 1\n\nblock "z" {}\n'
    with pytest.raises(AssertionError, match="no block"):
        remove_block(text, 'block "missing"')
