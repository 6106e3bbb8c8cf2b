"""Alert and recording rules: promtool check + unit tests, every alert documented with a
runbook, metric names as in docs/contracts.md, Alertmanager routes valid."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from monitoring_support import (
    MONITORING,
    ROOT,
    RULE_FILES,
    RUNBOOKS,
    alerts,
    rules,
    run_promtool,
    unknown_metrics,
)

SECTIONS = ("## What it means", "## How to confirm", "## How to fix")


def _seconds(duration: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", duration)
    assert m, duration
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def test_promtool_check_rules() -> None:
    proc = run_promtool("check", "rules", *RULE_FILES)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(RULE_FILES)


def test_promtool_unit_tests() -> None:
    proc = run_promtool("test", "rules", MONITORING / "tests" / "alerts_test.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """A threshold changed in the rules breaks the unit tests (they pin the behaviour)."""
    for path in RULE_FILES:
        text = path.read_text()
        if path.name == "alerts.rules.yaml":
            text = text.replace(
                "service:modelserve_request_error_ratio:rate1m > 0.05",
                "service:modelserve_request_error_ratio:rate1m > 0.5",
            )
        (tmp_path / path.name).write_text(text)
    test = (MONITORING / "tests" / "alerts_test.yaml").read_text().replace("../", "")
    (tmp_path / "alerts_test.yaml").write_text(test)
    proc = run_promtool("test", "rules", tmp_path / "alerts_test.yaml")
    assert proc.returncode != 0
    assert "HighErrorRatio" in proc.stdout + proc.stderr


def test_every_alert_is_complete() -> None:
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names))
    for rule in alerts():
        name = rule["alert"]
        assert "for" in rule, name
        # short enough for a game day to see it fire within a minute of the fault
        assert _seconds(rule["for"]) <= 60, name
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        ann = rule["annotations"]
        assert ann["summary"].strip(), name
        assert ann["description"].strip(), name
        assert ann["runbook_url"] == f"docs/runbooks/{name}.md", name


def test_required_alerts_exist() -> None:
    names = {a["alert"] for a in alerts()}
    assert {
        "HighErrorRatio",
        "HighLatencyP99",
        "ReplicasBelowDesired",
        "NoReadyReplicas",
        "ModelNotReady",
        "RequestsShed",
        "NodeSpotInterruption",
        "TargetDown",
        "RedisDown",
        "PostgreSQLDown",
        "PipelineRunsFailing",
    } <= names


def test_every_alert_has_a_runbook_and_every_runbook_an_alert() -> None:
    names = {a["alert"] for a in alerts()}
    pages = {p.stem for p in RUNBOOKS.glob("*.md")} - {"README"}
    assert pages == names
    index = (RUNBOOKS / "README.md").read_text()
    for name in names:
        text = (ROOT / f"docs/runbooks/{name}.md").read_text()
        assert text.startswith(f"# {name}\n"), name
        for section in SECTIONS:
            assert section in text, f"{name}: missing {section!r}"
        assert f"[{name}.md]({name}.md)" in index, name


def test_every_alert_is_unit_tested() -> None:
    tests = yaml.safe_load((MONITORING / "tests" / "alerts_test.yaml").read_text())["tests"]
    firing = {
        case["alertname"]
        for t in tests
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert firing == {a["alert"] for a in alerts()}


def test_metric_names_follow_the_contracts() -> None:
    recorded = {r["record"] for path in RULE_FILES for r in rules(path) if "record" in r}
    for path in RULE_FILES:
        for rule in rules(path):
            assert not unknown_metrics(rule["expr"], recorded), (rule, path.name)


def test_unknown_metric_names_are_caught() -> None:
    assert unknown_metrics("rate(modelserve_request_total[1m])", set()) == {
        "modelserve_request_total"
    }
    assert not unknown_metrics("rate(modelserve_request_duration_seconds_bucket[1m])", set())
    assert unknown_metrics("service:modelserve_requests:rate5m", {"service:x:rate1m"}) == {
        "service:modelserve_requests:rate5m"
    }


def test_alertmanager_routes() -> None:
    config = yaml.safe_load((MONITORING / "alertmanager.yaml").read_text())
    hooks = {r["name"]: r["webhook_configs"][0] for r in config["receivers"]}
    assert sorted(hooks) == ["pager", "ticket"]
    for name, hook in hooks.items():
        # the placeholders each platform replaces (docs/contracts.md)
        assert hook["url"] == f"http://alert-{name}.invalid/alerts"
        assert hook["send_resolved"] is True
    by_severity = {m: r["receiver"] for r in config["route"]["routes"] for m in r["matchers"]}
    assert by_severity == {'severity="critical"': "pager", 'severity="warning"': "ticket"}
    assert config["route"]["receiver"] == "ticket"  # no severity: still someone's ticket
    # Every rule's severity has a route, so no alert falls to the default by accident.
    severities = {
        rule["labels"]["severity"]
        for group in yaml.safe_load((MONITORING / "alerts.rules.yaml").read_text())["groups"]
        for rule in group["rules"]
    }
    assert {f'severity="{s}"' for s in severities} <= set(by_severity)
    sources = [m for r in config["inhibit_rules"] for m in r["source_matchers"]]
    assert 'alertname="NoReadyReplicas"' in sources
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool not installed (Debian prometheus-alertmanager)")
    proc = subprocess.run(
        [amtool, "check-config", str(MONITORING / "alertmanager.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
