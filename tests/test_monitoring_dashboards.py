"""Grafana dashboards generated as code: valid dashboard JSON, every panel's PromQL parses
(promtool) and uses only metrics the contracts or recording rules define."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from monitoring_support import (
    MONITORING,
    RULE_FILES,
    generator,
    parse_check,
    rules,
    unknown_metrics,
)

TITLES = {"Model Serving Overview", "Model Performance", "Canary", "Infrastructure"}
# Grafana template variables the panels use, and a value each for parsing.
SUBSTITUTE = {"$__rate_interval": "1m", "$service": "ner"}


def _dashboards() -> list[dict[str, Any]]:
    paths = sorted((MONITORING / "dashboards").glob("*.json"))
    return [json.loads(p.read_text()) for p in paths]


def _concrete(expr: str) -> str:
    for var, value in SUBSTITUTE.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unknown template variable in {expr!r}"
    return expr


def _targets(dash: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (f"{dash['uid']}/{panel['title']}/{t['refId']}", t["expr"])
        for panel in dash["panels"]
        for t in panel["targets"]
    ]


def test_the_four_dashboards() -> None:
    dashes = _dashboards()
    assert {d["title"] for d in dashes} == TITLES
    assert len({d["uid"] for d in dashes}) == 4


@pytest.mark.parametrize("title", sorted(TITLES))
def test_dashboard_model_is_well_formed(title: str) -> None:
    dash = next(d for d in _dashboards() if d["title"] == title)
    assert dash["schemaVersion"] >= 36
    names = [v["name"] for v in dash["templating"]["list"]]
    assert names[0] == "datasource"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 4
    for panel in dash["panels"]:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] <= pos["x"] + pos["w"] <= 24, panel["title"]
        assert pos["h"] > 0, panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["legendFormat"], panel["title"]
            if "$service" in target["expr"]:
                assert "service" in names, panel["title"]


def test_every_panel_query_parses(tmp_path: Path) -> None:
    exprs = {name: _concrete(expr) for d in _dashboards() for name, expr in _targets(d)}
    assert len(exprs) > 30
    proc = parse_check(exprs, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_broken_query_is_reported(tmp_path: Path) -> None:
    proc = parse_check({"bad": "sum by (service (rate(modelserve_requests_total[1m]))"}, tmp_path)
    assert proc.returncode != 0


def test_panel_queries_use_defined_metrics() -> None:
    recorded = {r["record"] for path in RULE_FILES for r in rules(path) if "record" in r}
    for dash in _dashboards():
        for name, expr in _targets(dash):
            assert not unknown_metrics(expr, recorded), name


def test_generator_lists_every_panel_expression() -> None:
    gen = generator()
    by_uid = {d["uid"]: d for d in _dashboards()}
    for model in gen.DASHBOARDS:
        assert gen.panel_expressions(model) == [e for _, e in _targets(by_uid[model.uid])]


def test_all_expressions_for_game_days_parse(tmp_path: Path) -> None:
    """`generate.py --exprs` (what a game day queries on the local Prometheus) lists every
    rule and panel expression, with Grafana variables substituted, and each one parses."""
    exprs = generator().all_expressions()
    n_rules = sum(len(rules(p)) for p in RULE_FILES)
    n_panels = sum(len(_targets(d)) for d in _dashboards())
    assert len(exprs) == n_rules + n_panels
    assert not [e for k, e in exprs.items() if "/" in k and "$" in e]  # panels: substituted
    proc = parse_check(exprs, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
