"""One source: the chart's copies of reference-stack/monitoring are byte-equal to it, the
dashboards are what generate.py makes, and the rendered PrometheusRule and dashboard
ConfigMaps carry exactly those files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from chart_support import find, kinds, render_env
from monitoring_support import MONITORING, RULE_FILES, generator


def test_generated_and_copied_files_are_current() -> None:
    gen = generator()
    files = gen.expected_files()
    assert any("charts/modelserve/files" in str(p) for p in files)
    stale = [str(p) for p, body in files.items() if not p.is_file() or p.read_bytes() != body]
    assert not stale, "run: python reference-stack/monitoring/generate.py\n" + "\n".join(stale)
    for name in gen.COPIED:
        assert (gen.CHART_FILES / name).read_bytes() == (MONITORING / name).read_bytes()


def test_check_mode_reports_a_stale_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gen = generator()
    copy_dir = tmp_path / "files"
    monkeypatch.setattr(gen, "CHART_FILES", copy_dir)
    assert gen.main(["--check"]) == 1
    assert "stale:" in capsys.readouterr().out
    assert gen.main([]) == 0  # writes the copies
    assert gen.main(["--check"]) == 0
    (copy_dir / "alerts.rules.yaml").write_text("groups: []\n")
    assert gen.main(["--check"]) == 1


def test_prometheus_rule_is_the_rule_files() -> None:
    want = []
    for path in RULE_FILES:
        want += yaml.safe_load(path.read_text())["groups"]
    got = find(render_env("default"), "PrometheusRule", "modelserve")["spec"]["groups"]
    assert got == want
    # staging sets monitoring.runbookBaseUrl: only runbook_url changes
    staged = find(render_env("staging"), "PrometheusRule", "modelserve")["spec"]["groups"]
    base = "https://github.com/modelserveai/proving-ground/blob/main/"
    for g_want, g_got in zip(want, staged, strict=True):
        for r_want, r_got in zip(g_want["rules"], g_got["rules"], strict=True):
            if "alert" in r_want:
                assert (
                    r_got["annotations"]["runbook_url"]
                    == base + r_want["annotations"]["runbook_url"]
                )
                unprefixed = {
                    **r_got,
                    "annotations": {
                        **r_got["annotations"],
                        "runbook_url": r_want["annotations"]["runbook_url"],
                    },
                }
                assert unprefixed == r_want
            else:
                assert r_got == r_want


def test_dashboard_configmaps_are_the_generated_dashboards() -> None:
    maps = [
        cm
        for cm in kinds(render_env("default"), "ConfigMap")
        if cm["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    files = {p.name: p.read_text() for p in (MONITORING / "dashboards").glob("*.json")}
    assert len(maps) == len(files) == 4
    for cm in maps:
        ((name, body),) = cm["data"].items()
        assert json.loads(body) == json.loads(files[name])
        assert cm["metadata"]["namespace"] == "monitoring"


def test_service_monitors_add_the_contract_labels() -> None:
    for sm in kinds(render_env("default"), "ServiceMonitor"):
        endpoint = sm["spec"]["endpoints"][0]
        assert endpoint["path"] == "/metrics"
        targets = {r["targetLabel"] for r in endpoint["relabelings"]}
        assert targets == {"service", "version", "node", "replica"}
