"""harness.monitoring: the expressions a game day checks against Prometheus, the observer that
runs them and the monitoring_coverage gate (the live check is scenarios/observability.yaml)."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from monitoring_support import MONITORING, generator

from harness.errors import ConfigError
from harness.gates import GateContext, gate_from_spec
from harness.monitoring import Expression, expressions, finite_series, operands
from harness.observers import MonitoringObserver
from harness.platform.local.respond import send_json
from harness.record import RunRecord, read_events


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ("up == 0", ["up"]),
        ("a:ratio > 0.05", ["a:ratio"]),
        ("x < y", ["x", "y"]),
        ('m{code=~"5..",v!="x"} >= 1e-3', ['m{code=~"5..",v!="x"}']),
        ("a == 0 and on (service) b > 0", ["a", "b"]),
        ("a > bool 1", ["a"]),
        (
            'a{v="c"} > 0.05 and on (s) (a{v="c"} - ignoring (v) a{v="s"}) > 0.02',
            ['a{v="c"}', '(a{v="c"} - ignoring (v) a{v="s"})'],
        ),
        ("a unless b", ["a", "b"]),
        # a bracketed side that filters is split in turn: it is empty while all is well
        ("(a == 0 and on (s) b > 0) unless on (s) c < 120", ["a", "b", "c"]),
        ("(a < b) unless c < 120", ["a", "b", "c"]),
        ("((a == 0)) unless c", ["a", "c"]),
        # brackets around arithmetic, or two bracketed terms, are one query
        ("(a - b) > 0.02", ["(a - b)"]),
        ("(a) / (b) > 1", ["(a) / (b)"]),
        ('(x{l=")"} == 0) unless c', ['x{l=")"}', "c"]),
        # `or` keeps the whole: one side with data is enough
        ("a or b * 0", ["a or b * 0"]),
        ("sum by (s) (rate(x[1m])) / sum(y)", ["sum by (s) (rate(x[1m])) / sum(y)"]),
        # operators inside brackets, strings and names are not top level
        ("count(x > 1) or vector(0)", ["count(x > 1) or vector(0)"]),
        ('x{a="b > c"}', ['x{a="b > c"}']),
        ("standard_metric", ["standard_metric"]),
        ("band_width > 3", ["band_width"]),
    ],
)
def test_operands_of_an_alert_expression(expr: str, want: list[str]) -> None:
    assert operands(expr) == want


def test_the_expressions_are_the_generators() -> None:
    """Keys and text equal generate.py's own listing (which the dashboards are made from)."""
    mine = {e.key: e for e in expressions()}
    theirs = generator().all_expressions()
    assert set(mine) == set(theirs)
    for key, expr in theirs.items():
        assert mine[key].expr == expr.strip(), key
    alerts = [e for e in mine.values() if e.key.startswith("alert:")]
    assert alerts
    assert all(q != e.expr for e in alerts for q in e.queries), "alerts are checked by operand"
    bridge = sorted(e.key for e in mine.values() if e.kubernetes_only)
    assert bridge == [
        "record:modelserve_dependency_up",
        "record:modelserve_node_spot_interruption",
        "record:modelserve_replicas_desired",
        "record:modelserve_replicas_ready",
    ]


def test_unreadable_sources_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no \*\.rules\.yaml"):
        expressions(tmp_path)
    (tmp_path / "x.rules.yaml").write_text("groups: [")
    with pytest.raises(ConfigError, match=r"x\.rules\.yaml"):
        expressions(tmp_path)
    (tmp_path / "x.rules.yaml").write_text("groups: []\n")
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "d.json").write_text("{")
    with pytest.raises(ConfigError, match=r"d\.json"):
        expressions(tmp_path)
    assert (MONITORING / "alerts.rules.yaml").is_file()


def test_finite_series_counts_only_real_values() -> None:
    vec = {
        "resultType": "vector",
        "result": [{"value": [1, "NaN"]}, {"value": [1, "0"]}, {"value": [1, "+Inf"]}],
    }
    assert finite_series(vec) == 1
    assert finite_series({"resultType": "vector", "result": []}) == 0
    assert finite_series({"resultType": "scalar", "result": [1, "2"]}) == 1
    assert finite_series({"resultType": "scalar", "result": [1, "NaN"]}) == 0


class _FakeProm(BaseHTTPRequestHandler):
    """/api/v1/query: data for names in ``HAS``, NaN for ``nan``, 400 for anything with '('."""

    HAS = {"a", "b"}
    seen: list[str] = []

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["query"][0]
        self.seen.append(query)
        if "(" in query:
            status, body = 400, {"status": "error", "error": f"parse error in {query}"}
        else:
            value = "1" if query in self.HAS else "NaN"
            result = [{"metric": {}, "value": [0, value]}] if query != "none" else []
            status, body = (
                200,
                {"status": "success", "data": {"resultType": "vector", "result": result}},
            )
        send_json(self, status, body)

    def log_message(self, *args: Any) -> None:
        pass


class _Platform:
    def __init__(self, url: str) -> None:
        self.prometheus_url = url


@pytest.fixture
def prom() -> Iterator[_Platform]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeProm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeProm.seen = []
    yield _Platform(f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()
    server.server_close()


EXPRS = [
    Expression("record:a", "a", ("a",)),
    Expression("alert:AB", "a > b", ("a", "b")),
    Expression("panel/nan/A", "nan", ("nan",)),
    Expression("panel/bad/A", "rate(", ("rate(",)),
    Expression("record:k8s", "none", ("none",), kubernetes_only=True),
]


def test_observer_records_each_query_once_when_it_first_has_data(
    tmp_path: Path, prom: _Platform
) -> None:
    with RunRecord(tmp_path / "run") as rec:
        obs = MonitoringObserver(prom, rec, EXPRS)  # type: ignore[arg-type]
        obs.poll()
        obs.poll()
    events = list(read_events(tmp_path / "run"))
    plans = [e for e in events if e.kind == "promql_plan"]
    assert len(plans) == 1
    assert [x["key"] for x in plans[0]["expressions"]] == [e.key for e in EXPRS]
    found = {(e["key"], e["query"]): e for e in events if e.kind == "promql"}
    assert found[("record:a", "a")]["ok"]
    assert found[("alert:AB", "b")]["series"] == 1
    assert not found[("panel/bad/A", "rate(")]["ok"]
    assert "parse error" in found[("panel/bad/A", "rate(")]["error"]
    assert ("panel/nan/A", "nan") not in found  # NaN is no data
    assert ("record:k8s", "none") not in found
    # answered queries are not asked again: the second poll only retried the two without data
    assert sorted(_FakeProm.seen[len(EXPRS) + 1 :]) == ["nan", "none"]


def _ctx(platform: str, answered: list[tuple[str, str, bool]], plan: bool = True) -> GateContext:
    from harness.record import Event

    events = [Event(0, 0.0, "run_start", {"scenario": "s", "platform": platform})]
    if plan:
        events.append(Event(1, 1.0, "promql_plan", {"expressions": [e.to_json() for e in EXPRS]}))
    for i, (key, query, ok) in enumerate(answered):
        data: dict[str, Any] = {"key": key, "query": query, "ok": ok}
        if not ok:
            data["error"] = "parse error"
        events.append(Event(2 + i, 2.0, "promql", data))
    return GateContext(events)


def _gate() -> Any:
    return gate_from_spec({"gate": "monitoring_coverage"}, source="s.yaml", field="expect[0]")


ALL_BUT_K8S = [
    ("record:a", "a", True),
    ("alert:AB", "a", True),
    ("alert:AB", "b", True),
    ("panel/nan/A", "nan", True),
    ("panel/bad/A", "rate(", True),
]


def test_gate_passes_when_every_query_had_data_and_kubernetes_sources_are_exempt_locally() -> None:
    v = _gate().evaluate(_ctx("local", ALL_BUT_K8S))
    assert v.verdict == "pass"
    assert v.observed["with_data"] == 4
    assert v.evidence["kubernetes_only_not_applicable_here"] == ["record:k8s"]


def test_gate_requires_the_kubernetes_bridge_on_a_cluster() -> None:
    v = _gate().evaluate(_ctx("kind", ALL_BUT_K8S))
    assert v.verdict == "fail"
    assert v.observed["missing"] == ["record:k8s"]


def test_gate_fails_naming_the_operand_without_data_and_the_refused_query() -> None:
    answered = [
        ("record:a", "a", True),
        ("alert:AB", "a", True),
        ("panel/nan/A", "nan", True),
        ("panel/bad/A", "rate(", False),
    ]
    v = _gate().evaluate(_ctx("local", answered))
    assert v.verdict == "fail"
    assert v.observed["missing"] == ["alert:AB: b"]
    assert v.observed["errors"] == ["panel/bad/A: parse error"]


def test_gate_without_the_observer_is_inconclusive() -> None:
    v = _gate().evaluate(_ctx("local", [], plan=False))
    assert v.verdict == "inconclusive"
    assert "observe.monitoring" in v.evidence["why"]
    with pytest.raises(ConfigError, match="unknown key"):
        gate_from_spec({"gate": "monitoring_coverage", "max": 1}, source="s.yaml", field="e")
