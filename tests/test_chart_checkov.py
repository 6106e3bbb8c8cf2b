"""checkov on the chart's rendered manifests for every environment: nothing fails except the
checks ci/checkov.yaml skips, each with its reason written above it.

checkov lives in its own virtualenv (it pins boto3/botocore and replaces python-hcl2's
module): .venv-checkov/bin/checkov, or the program named by MSAI_CHECKOV, or one on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from chart_support import CHART, ENVIRONMENTS, ROOT, values_for

CONFIG = CHART / "ci" / "checkov.yaml"


def _checkov() -> str:
    for candidate in (
        os.environ.get("MSAI_CHECKOV", ""),
        str(ROOT / ".venv-checkov" / "bin" / "checkov"),
        shutil.which("checkov") or "",
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("checkov not installed (its own venv: .venv-checkov, or set MSAI_CHECKOV)")


def test_every_skipped_check_is_explained() -> None:
    lines = CONFIG.read_text().splitlines()
    skips = yaml.safe_load(CONFIG.read_text())["skip-check"]
    assert skips
    for check in skips:
        at = next(i for i, line in enumerate(lines) if line.strip() == f"- {check}")
        assert lines[at - 1].strip().startswith("#"), f"{check}: no reason above it"


def test_no_unexplained_checkov_finding(tmp_path: Path) -> None:
    checkov = _checkov()
    import helm_python

    chart = helm_python.Chart.load(CHART)
    try:
        for env in ENVIRONMENTS:
            out = chart.render(values_for(env), name="modelserve", namespace="default")
            text = "\n---\n".join(v for k, v in sorted(out.items()) if k.endswith(".yaml"))
            (tmp_path / f"{env}.yaml").write_text(text)
    finally:
        chart.close()
    env = {
        **os.environ,
        "BC_SKIP_MAPPING": "TRUE",
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
    }
    proc = subprocess.run(
        [
            *(checkov, "--config-file", str(CONFIG), "-d", str(tmp_path)),
            *("--skip-download", "-o", "json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{f['check_id']} {f['resource']} ({f['file_path']}): {f['check_name']}"
        for r in reports
        for f in r["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    summary = reports[0]["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 100
    assert proc.returncode == 0, proc.stderr[-2000:]
