#!/usr/bin/env python3
"""Grafana dashboards as code, and the chart's copy of the monitoring sources.

    python reference-stack/monitoring/generate.py          # write dashboards + chart copies
    python reference-stack/monitoring/generate.py --check  # exit 1 if anything is stale
    python reference-stack/monitoring/generate.py --exprs  # every PromQL expression, as JSON

Writes ``dashboards/<uid>.json`` (Model Serving Overview, Model Performance, Canary,
Infrastructure) and copies the rule files, Alertmanager routes and dashboards byte for byte
into ``charts/modelserve/files/monitoring/``: Helm's ``.Files.Get`` cannot read outside the
chart, so the chart carries a copy and ``tests/test_monitoring_sync.py`` proves it equal.

Panel queries use two template variables only, ``$service`` and ``$__rate_interval``, so a
test can substitute them and let promtool parse every expression. ``--exprs`` lists every
expression of the rules and dashboards (variables substituted) for a game day to query
against the local platform's Prometheus.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CHART_FILES",
    "COPIED",
    "DASHBOARDS",
    "HERE",
    "Dashboard",
    "Panel",
    "all_expressions",
    "dashboard_json",
    "expected_files",
    "main",
    "panel_expressions",
]

HERE = Path(__file__).resolve().parent
CHART_FILES = HERE.parent / "charts" / "modelserve" / "files" / "monitoring"
#: Source files the chart gets a byte-equal copy of.
COPIED = ("alerts.rules.yaml", "recording.rules.yaml", "alertmanager.yaml")

SVC = 'service=~"$service"'
RI = "$__rate_interval"


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: tuple[tuple[str, str], ...]
    """(PromQL, legend) pairs, one Grafana target each."""
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12
    description: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    service_var: bool = True
    tags: tuple[str, ...] = field(default=("modelserve",))


def _q(quantile: float, metric: str, by: str = "service") -> str:
    return (
        f"histogram_quantile({quantile}, sum by ({by}, le) (rate({metric}_bucket{{{SVC}}}[{RI}])))"
    )


OVERVIEW = Dashboard(
    uid="modelserve-overview",
    title="Model Serving Overview",
    description="Traffic, errors, latency and capacity of every model service at a glance.",
    panels=(
        Panel(
            "Requests per second",
            ((f"sum(rate(modelserve_requests_total{{{SVC}}}[{RI}]))", "all"),),
            unit="reqps",
            kind="stat",
            width=6,
        ),
        Panel(
            "Error ratio (5xx)",
            (
                (
                    f'sum(rate(modelserve_requests_total{{{SVC},code=~"5.."}}[{RI}]))'
                    f" / sum(rate(modelserve_requests_total{{{SVC}}}[{RI}]))",
                    "5xx",
                ),
            ),
            unit="percentunit",
            kind="stat",
            width=6,
        ),
        Panel(
            "p99 latency",
            (
                (
                    "histogram_quantile(0.99, sum by (le) "
                    f"(rate(modelserve_request_duration_seconds_bucket{{{SVC}}}[{RI}])))",
                    "p99",
                ),
            ),
            unit="s",
            kind="stat",
            width=6,
        ),
        Panel(
            "Firing alerts",
            (('count(ALERTS{alertstate="firing"}) or vector(0)', "firing"),),
            kind="stat",
            width=6,
        ),
        Panel(
            "Requests per second by service and code",
            (
                (
                    f"sum by (service, code) (rate(modelserve_requests_total{{{SVC}}}[{RI}]))",
                    "{{service}} {{code}}",
                ),
            ),
            unit="reqps",
        ),
        Panel(
            "Error ratio by service",
            (("service:modelserve_request_error_ratio:rate1m{" + SVC + "}", "{{service}}"),),
            unit="percentunit",
        ),
        Panel(
            "Latency p50 / p95 / p99",
            (
                (_q(0.5, "modelserve_request_duration_seconds"), "{{service}} p50"),
                (_q(0.95, "modelserve_request_duration_seconds"), "{{service}} p95"),
                (_q(0.99, "modelserve_request_duration_seconds"), "{{service}} p99"),
            ),
            unit="s",
        ),
        Panel(
            "Replicas ready / desired",
            (
                ("sum by (service) (modelserve_replicas_ready{" + SVC + "})", "{{service}} ready"),
                (
                    "sum by (service) (modelserve_replicas_desired{" + SVC + "})",
                    "{{service}} desired",
                ),
            ),
        ),
        Panel(
            "Shed requests per second by reason",
            (
                (
                    f"sum by (service, reason) (rate(modelserve_shed_total{{{SVC}}}[{RI}]))",
                    "{{service}} {{reason}}",
                ),
            ),
            unit="reqps",
        ),
        Panel(
            "Alerts",
            (("sum by (alertname, alertstate) (ALERTS)", "{{alertname}} {{alertstate}}"),),
        ),
    ),
)

PERFORMANCE = Dashboard(
    uid="modelserve-performance",
    title="Model Performance",
    description="Where a request's time goes: queue wait, batching, forward pass.",
    panels=(
        Panel(
            "Request duration p50 / p99 by route",
            (
                (
                    _q(0.5, "modelserve_request_duration_seconds", "service, route"),
                    "{{service}} {{route}} p50",
                ),
                (
                    _q(0.99, "modelserve_request_duration_seconds", "service, route"),
                    "{{service}} {{route}} p99",
                ),
            ),
            unit="s",
        ),
        Panel(
            "Queue wait p50 / p99",
            (
                (_q(0.5, "modelserve_queue_wait_seconds"), "{{service}} p50"),
                (_q(0.99, "modelserve_queue_wait_seconds"), "{{service}} p99"),
            ),
            unit="s",
        ),
        Panel(
            "Forward pass p50 / p99",
            (
                (_q(0.5, "modelserve_inference_seconds"), "{{service}} p50"),
                (_q(0.99, "modelserve_inference_seconds"), "{{service}} p99"),
            ),
            unit="s",
        ),
        Panel(
            "Mean batch size",
            (
                (
                    f"sum by (service) (rate(modelserve_batch_size_sum{{{SVC}}}[{RI}]))"
                    f" / sum by (service) (rate(modelserve_batch_size_count{{{SVC}}}[{RI}]))",
                    "{{service}}",
                ),
            ),
        ),
        Panel(
            "Pending requests per replica (HPA metric)",
            (
                (
                    "avg by (service) (modelserve_pending_requests{" + SVC + "})",
                    "{{service}} mean",
                ),
                (
                    "max by (service) (modelserve_pending_requests{" + SVC + "})",
                    "{{service}} max",
                ),
            ),
        ),
        Panel(
            "Forward passes per second",
            (
                (
                    f"sum by (service) (rate(modelserve_inference_seconds_count{{{SVC}}}[{RI}]))",
                    "{{service}}",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "Model load time",
            (
                (
                    "max by (service, replica) (modelserve_model_load_seconds{" + SVC + "})",
                    "{{replica}}",
                ),
            ),
            unit="s",
        ),
        Panel(
            "Model ready by replica",
            (("max by (service, replica) (modelserve_model_ready{" + SVC + "})", "{{replica}}"),),
        ),
        Panel(
            "Fault hooks fired per second",
            (
                (
                    f"sum by (service, fault) "
                    f"(rate(modelserve_fault_injections_total{{{SVC}}}[{RI}]))",
                    "{{service}} {{fault}}",
                ),
            ),
            unit="ops",
            width=24,
        ),
    ),
)

CANARY = Dashboard(
    uid="modelserve-canary",
    title="Canary",
    description="Stable against canary: traffic split, errors and latency per version.",
    panels=(
        Panel(
            "Canary share of traffic",
            (
                (
                    f'sum by (service) (rate(modelserve_requests_total{{{SVC},version="canary"}}'
                    f"[{RI}])) / sum by (service) (rate(modelserve_requests_total{{{SVC}}}[{RI}]))",
                    "{{service}}",
                ),
            ),
            unit="percentunit",
        ),
        Panel(
            "Requests per second by version",
            (
                (
                    f"sum by (service, version) (rate(modelserve_requests_total{{{SVC}}}[{RI}]))",
                    "{{service}} {{version}}",
                ),
            ),
            unit="reqps",
        ),
        Panel(
            "Error ratio by version",
            (
                (
                    "service_version:modelserve_request_error_ratio:rate1m{" + SVC + "}",
                    "{{service}} {{version}}",
                ),
            ),
            unit="percentunit",
        ),
        Panel(
            "p99 latency by version",
            (
                (
                    _q(0.99, "modelserve_request_duration_seconds", "service, version"),
                    "{{service}} {{version}}",
                ),
            ),
            unit="s",
        ),
        Panel(
            "Ready replicas by version",
            (
                (
                    "sum by (service, version) (modelserve_model_ready{" + SVC + "})",
                    "{{service}} {{version}}",
                ),
            ),
            width=24,
        ),
    ),
)

INFRASTRUCTURE = Dashboard(
    uid="modelserve-infrastructure",
    title="Infrastructure",
    description="Targets, nodes, mesh, dependencies and pipelines under the model services.",
    service_var=False,
    panels=(
        Panel("Scrape targets up", (("sum by (job) (up)", "{{job}}"),)),
        Panel(
            "Spot interruption notices",
            (("max by (node) (modelserve_node_spot_interruption)", "{{node}}"),),
        ),
        Panel(
            "Dependencies up",
            (("max by (dependency) (modelserve_dependency_up)", "{{dependency}}"),),
        ),
        Panel(
            "Replicas per node",
            (("count by (node) (modelserve_model_ready)", "{{node}}"),),
        ),
        Panel(
            "CPU seconds per second by replica",
            (
                (
                    f"sum by (service, replica) (rate(process_cpu_seconds_total[{RI}]))",
                    "{{service}} {{replica}}",
                ),
            ),
        ),
        Panel(
            "Resident memory by replica",
            (
                (
                    "sum by (service, replica) (process_resident_memory_bytes)",
                    "{{service}} {{replica}}",
                ),
            ),
            unit="bytes",
        ),
        Panel(
            "Gateway upstream requests per second",
            (
                (
                    f"sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_total[{RI}]))",
                    "{{envoy_cluster_name}}",
                ),
            ),
            unit="reqps",
        ),
        Panel(
            "Gateway retries, overflows and ejections",
            (
                (
                    f"sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_retry[{RI}]))",
                    "{{envoy_cluster_name}} retries/s",
                ),
                (
                    f"sum by (envoy_cluster_name) "
                    f"(rate(envoy_cluster_upstream_rq_pending_overflow[{RI}]))",
                    "{{envoy_cluster_name}} overflow/s",
                ),
                (
                    "sum by (envoy_cluster_name) "
                    "(envoy_cluster_outlier_detection_ejections_active)",
                    "{{envoy_cluster_name}} ejected",
                ),
            ),
        ),
        Panel(
            "Pipeline runs per second by outcome",
            (
                (
                    f"sum by (pipeline, outcome) (rate(orchestrator_runs_total[{RI}]))",
                    "{{pipeline}} {{outcome}}",
                ),
            ),
            unit="ops",
        ),
        Panel(
            "Pipeline step p99 and retries",
            (
                (
                    f"histogram_quantile(0.99, sum by (pipeline, step, le) "
                    f"(rate(orchestrator_step_duration_seconds_bucket[{RI}])))",
                    "{{pipeline}}/{{step}} p99",
                ),
                (
                    f"sum by (pipeline, step) (rate(orchestrator_step_retries_total[{RI}]))",
                    "{{pipeline}}/{{step}} retries/s",
                ),
            ),
        ),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (OVERVIEW, PERFORMANCE, CANARY, INFRASTRUCTURE)

_HEIGHT = {"stat": 4, "timeseries": 8}


def _templating(dash: Dashboard) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
        }
    ]
    if dash.service_var:
        items.append(
            {
                "name": "service",
                "label": "Service",
                "type": "query",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "query": {
                    "query": "label_values(modelserve_requests_total, service)",
                    "refId": "service",
                },
                "definition": "label_values(modelserve_requests_total, service)",
                "includeAll": True,
                "allValue": ".*",
                "multi": True,
                "current": {},
                "refresh": 2,
                "hide": 0,
            }
        )
    return {"list": items}


def dashboard_json(dash: Dashboard) -> dict[str, Any]:
    """The Grafana dashboard model (schemaVersion 39) of one dashboard."""
    panels: list[dict[str, Any]] = []
    x = y = row_h = 0
    for pid, panel in enumerate(dash.panels, start=1):
        h = _HEIGHT[panel.kind]
        if x + panel.width > 24:
            x, y, row_h = 0, y + row_h, 0
        panels.append(
            {
                "id": pid,
                "type": panel.kind,
                "title": panel.title,
                "description": panel.description,
                "gridPos": {"x": x, "y": y, "w": panel.width, "h": h},
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "targets": [
                    {
                        "refId": chr(ord("A") + i),
                        "expr": expr,
                        "legendFormat": legend,
                        "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    }
                    for i, (expr, legend) in enumerate(panel.exprs)
                ],
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "options": {},
            }
        )
        x += panel.width
        row_h = max(row_h, h)
    return {
        "uid": dash.uid,
        "title": dash.title,
        "description": dash.description,
        "tags": list(dash.tags),
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-30m", "to": "now"},
        "refresh": "10s",
        "timezone": "utc",
        "templating": _templating(dash),
        "annotations": {
            "list": [
                {
                    "name": "Alerts",
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    "enable": True,
                    "expr": 'ALERTS{alertstate="firing"}',
                    "iconColor": "red",
                    "titleFormat": "{{alertname}}",
                }
            ]
        },
        "panels": panels,
    }


def panel_expressions(dash: Dashboard) -> list[str]:
    """Every PromQL expression of a dashboard, in panel order."""
    return [expr for panel in dash.panels for expr, _ in panel.exprs]


#: Values for the dashboards' template variables when an expression is run outside Grafana.
TEMPLATE_VALUES = {"$__rate_interval": "1m", "$service": ".*"}


def all_expressions() -> dict[str, str]:
    """Every PromQL expression of the rule files and dashboards, keyed by where it is
    (``alert:Name``, ``record:name``, ``<dashboard uid>/<panel title>/<refId>``)."""
    import yaml  # only here: the generator itself needs the standard library only

    out: dict[str, str] = {}
    for name in ("recording.rules.yaml", "alerts.rules.yaml"):
        for group in yaml.safe_load((HERE / name).read_text())["groups"]:
            for rule in group["rules"]:
                key = f"alert:{rule['alert']}" if "alert" in rule else f"record:{rule['record']}"
                while key in out:  # a recorded name may have several rules
                    key += "'"
                out[key] = str(rule["expr"])
    for dash in DASHBOARDS:
        for panel in dash.panels:
            for i, (expr, _) in enumerate(panel.exprs):
                concrete = expr
                for var, value in TEMPLATE_VALUES.items():
                    concrete = concrete.replace(var, value)
                out[f"{dash.uid}/{panel.title}/{chr(ord('A') + i)}"] = concrete
    return out


def _render(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def expected_files() -> dict[Path, bytes]:
    """Every generated or copied file and the bytes it must hold."""
    out: dict[Path, bytes] = {}
    for dash in DASHBOARDS:
        body = _render(dashboard_json(dash))
        out[HERE / "dashboards" / f"{dash.uid}.json"] = body
        out[CHART_FILES / "dashboards" / f"{dash.uid}.json"] = body
    for name in COPIED:
        out[CHART_FILES / name] = (HERE / name).read_bytes()
    return out


def _write_atomic(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(body)
    tmp.replace(path)  # never a half-written file for the chart to read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report stale files, write none")
    parser.add_argument(
        "--exprs", action="store_true", help="print every rule and panel expression as JSON"
    )
    args = parser.parse_args(argv)
    if args.exprs:
        print(json.dumps(all_expressions(), indent=2))
        return 0
    files = expected_files()
    stale = [p for p, body in files.items() if not p.is_file() or p.read_bytes() != body]
    if args.check:
        for path in stale:
            print(f"stale: {path} (run: python reference-stack/monitoring/generate.py)")
        return 1 if stale else 0
    for path in stale:
        _write_atomic(path, files[path])
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
