"""Every modelserve_*/orchestrator_* series the rules and dashboards query is one the servers
really export (their own registries), or one docs/contracts.md says the platform exports,
with the labels the queries group by."""

from __future__ import annotations

import re

from modelserve.common.metrics import ServerMetrics
from modelserve.orchestrator.metrics import OrchestratorMetrics
from monitoring_support import ROOT, generator
from prometheus_client import generate_latest

_SUFFIX = re.compile(r"_(bucket|sum|count)$")


def _exposition() -> str:
    return (
        generate_latest(ServerMetrics("ner").registry).decode()
        + generate_latest(OrchestratorMetrics().registry).decode()
    )


def _platform_metrics() -> set[str]:
    text = (ROOT / "docs" / "contracts.md").read_text()
    section = text.split("## Metrics the platform exports", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))


def test_queried_series_are_exported() -> None:
    text = _exposition()
    exported = set(re.findall(r"^# TYPE (\S+) ", text, flags=re.MULTILINE))
    platform = _platform_metrics()
    assert platform == {
        "modelserve_replicas_desired",
        "modelserve_replicas_ready",
        "modelserve_node_spot_interruption",
        "modelserve_dependency_up",
    }
    missing = set()
    for where, expr in generator().all_expressions().items():
        for token in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
            if ":" in token or not token.startswith(("modelserve_", "orchestrator_")):
                continue
            if token not in exported | platform and _SUFFIX.sub("", token) not in exported:
                missing.add(f"{where}: {token}")
    assert not missing, sorted(missing)


def test_grouping_labels_exist_on_the_servers() -> None:
    text = _exposition()
    for series, label in (
        ("modelserve_requests_total", "code"),
        ("modelserve_requests_total", "route"),
        ("modelserve_shed_total", "reason"),
        ("modelserve_fault_injections_total", "fault"),
    ):
        assert re.search(rf"^{series}\{{[^}}]*\b{label}=", text, flags=re.MULTILINE), (
            series,
            label,
        )
    # 5xx series exist before the first error, so error ratios start at 0, not "no data"
    assert re.search(r'^modelserve_requests_total\{[^}]*code="500"', text, flags=re.MULTILINE)
