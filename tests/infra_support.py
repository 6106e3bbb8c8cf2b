"""Helpers for the infra tests: parse Terraform with python-hcl2 into plain dicts, per folder."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
VALUES = ROOT / "reference-stack" / "charts" / "modelserve" / "values.yaml"
MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf")
ENVIRONMENTS = ("dev", "staging", "prod")


def parse(path: Path) -> dict[str, Any]:
    """One HCL file as plain dicts (python-hcl2 8.x); a parse error names the file."""
    import hcl2
    from hcl2 import SerializationOptions

    opts = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    try:
        data: dict[str, Any] = hcl2.loads(path.read_text(), serialization_options=opts)
    except Exception as exc:  # lark raises several types
        raise AssertionError(f"{path.relative_to(ROOT)}: cannot parse: {exc}") from exc
    return _strip_comments(data)


def _strip_comments(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_comments(v) for k, v in node.items() if k != "__comments__"}
    if isinstance(node, list):
        return [_strip_comments(v) for v in node]
    return node


@dataclass
class TfDir:
    """The blocks of one Terraform folder (a module or a root configuration)."""

    path: Path
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # "type.name" -> body
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)
    providers: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""

    @property
    def rel(self) -> str:
        return str(self.path.relative_to(ROOT))


@cache
def load_dir(path: Path) -> TfDir:
    tf = TfDir(path)
    for file in sorted(path.glob("*.tf")):
        doc = parse(file)
        tf.text += file.read_text()
        for block in doc.get("variable", []):
            tf.variables.update(block)
        for block in doc.get("output", []):
            tf.outputs.update(block)
        for block in doc.get("module", []):
            tf.modules.update(block)
        for kind, target in (("resource", tf.resources), ("data", tf.data)):
            for block in doc.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        target[f"{rtype}.{name}"] = body
        for block in doc.get("locals", []):
            tf.locals.update(block)
        tf.terraform += doc.get("terraform", [])
        tf.providers += doc.get("provider", [])
    return tf


def tf_dirs() -> list[Path]:
    """Every folder under infra/ holding .tf files."""
    return sorted({p.parent for p in INFRA.rglob("*.tf") if ".terraform" not in p.parts})


def module_dirs() -> list[Path]:
    return sorted(p for p in (INFRA / "modules").iterdir() if p.is_dir())


def root_dirs() -> list[Path]:
    """Root configurations: each environment and each example."""
    envs = [INFRA / "environments" / e for e in ENVIRONMENTS]
    return envs + sorted(p for p in (INFRA / "examples").iterdir() if p.is_dir())


_REF = r"(?<![\w.-]){kind}\.([A-Za-z_][\w-]*)"


def references(text: str, kind: str) -> set[str]:
    """Names referenced as ``kind.NAME`` (var, local) in HCL source."""
    return set(re.findall(_REF.format(kind=kind), text))


def module_output_refs(text: str) -> set[tuple[str, str]]:
    """``(module, output)`` pairs referenced as ``module.M.O`` in HCL source."""
    return set(re.findall(r"(?<![\w.-])module\.([A-Za-z_][\w-]*)\.([A-Za-z_][\w]*)", text))


def values_yaml() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(VALUES.read_text())
    return data
