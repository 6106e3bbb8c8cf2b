"""harness.gates: verdicts from run-record events; no data is never a pass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.gates import (
    GATES,
    GateContext,
    Verdict,
    emit_verdicts,
    evaluate_gates,
    evaluate_run,
    gate_from_spec,
    gates_from_specs,
    overall_verdict,
    register_gate,
)
from harness.latency import encode_histogram, new_histogram, record_us
from harness.record import RunRecord, read_events


def _hist(latencies_ms: list[float], digits: int = 3) -> str:
    h = new_histogram(digits)
    for ms in latencies_ms:
        record_us(h, ms * 1000)
    return encode_histogram(h)


def _record(
    tmp_path: Path,
    seconds: list[tuple[int, int, dict[str, int], list[float]]],
    route: str = "all",
    summary: bool = True,
) -> Path:
    """A run with one load_bucket per (completed, errors, latencies) second + a summary."""
    rec = RunRecord(tmp_path / "run")
    rec.emit("run_start", scenario="t", platform="local")
    all_lat: list[float] = []
    total_ok, total_err = 0, {}
    for second, (sent, ok, errors, lat) in enumerate(seconds):
        rec.emit(
            "load_bucket",
            second=second,
            route=route,
            sent=sent,
            completed=ok,
            errors=errors,
            histogram=_hist(lat, 2) if lat else None,
        )
        all_lat += lat
        total_ok += ok
        for k, v in errors.items():
            total_err[k] = total_err.get(k, 0) + v
    if summary:
        rec.emit(
            "load_summary",
            route=route,
            sent=sum(s[0] for s in seconds),
            completed=total_ok,
            errors=total_err,
            histogram=_hist(all_lat),
            throughput_rps=total_ok / max(len(seconds), 1),
        )
    rec.close("pass")
    return tmp_path / "run"


def _ctx(run: Path) -> GateContext:
    return GateContext.from_record(run)


def _steady(n: int, rate: int = 100, lat: float = 20.0) -> list[Any]:
    return [(rate, rate, {}, [lat] * rate) for _ in range(n)]


def test_latency_gate_pass_and_fail(tmp_path: Path) -> None:
    lat = [10.0] * 98 + [300.0] * 2  # p99 = 300 ms
    run = _record(tmp_path, [(100, 100, {}, lat)], route="ner")
    ok = gate_from_spec({"gate": "latency", "route": "ner", "p50_ms": 20}).evaluate(_ctx(run))
    assert ok.verdict == "pass"
    assert ok.observed["p50_ms"] == pytest.approx(10.0, rel=0.01)
    bad = gate_from_spec({"gate": "latency", "route": "ner", "p99_ms": 250}).evaluate(_ctx(run))
    assert bad.verdict == "fail"
    assert bad.observed["p99_ms"] == pytest.approx(300.0, rel=0.01)
    assert bad.expected == {"p99_ms": 250.0}
    assert bad.evidence["exceeded"] == ["p99_ms"]
    assert "load_summary" in bad.evidence["source"]


def test_no_data_is_inconclusive_never_pass(tmp_path: Path) -> None:
    empty = _record(tmp_path, [], route="ner", summary=False)
    specs = [
        {"gate": "latency", "route": "ner", "p99_ms": 250},
        {"gate": "latency", "route": "vision", "p99_ms": 250},
        {"gate": "error_ratio", "max": 0.01},
        {"gate": "error_budget", "slo": 0.99},
        {"gate": "throughput", "min_rps": 1},
    ]
    verdicts = evaluate_gates(gates_from_specs(specs), _ctx(empty))
    assert [v.verdict for v in verdicts] == ["inconclusive"] * len(specs)
    assert all(v.evidence.get("reason") for v in verdicts)
    assert overall_verdict(verdicts) == "inconclusive"
    assert overall_verdict([]) == "inconclusive"


def test_latency_window_merges_bucket_histograms(tmp_path: Path) -> None:
    # slow only in seconds 2-3: the whole run passes p99 < 100 ms only outside the window
    seconds = [(100, 100, {}, [10.0] * 100)] * 2 + [(100, 100, {}, [400.0] * 100)] * 2
    seconds += [(100, 100, {}, [10.0] * 100)] * 6
    run = _record(tmp_path, seconds)
    before = gate_from_spec({"gate": "latency", "p99_ms": 100, "window": {"to": "2s"}})
    during = gate_from_spec({"gate": "latency", "p99_ms": 100, "window": {"from": 2, "to": 4}})
    assert before.evaluate(_ctx(run)).verdict == "pass"
    v = during.evaluate(_ctx(run))
    assert v.verdict == "fail"
    assert v.observed["samples"] == 200
    assert v.evidence["window"] == {"from_s": 2.0, "to_s": 4.0}


def test_error_ratio_counts_every_kind_unless_excluded(tmp_path: Path) -> None:
    run = _record(tmp_path, [(100, 97, {"http_503": 2, "timeout": 1}, [5.0] * 97)])
    v = gate_from_spec({"gate": "error_ratio", "max": 0.02}).evaluate(_ctx(run))
    assert v.verdict == "fail"
    assert v.observed == {"ratio": 0.03, "errors": 3, "requests": 100}
    assert v.evidence["errors"] == {"http_503": 2, "timeout": 1}
    v = gate_from_spec({"gate": "error_ratio", "max": 0.02, "exclude": ["http_503"]}).evaluate(
        _ctx(run)
    )
    assert v.verdict == "pass"
    assert v.observed["errors"] == 1


def test_error_budget_burst_fails_on_both_windows(tmp_path: Path) -> None:
    # 99% SLO, 60 s of steady traffic; a 5 s burst of 30% errors burns 30x in the short
    # window and (150/6000)/0.01 = 2.5x in the long: only the fast pair (long 10 s) trips.
    seconds = _steady(30) + [(100, 70, {"http_500": 30}, [5.0] * 70)] * 5 + _steady(25)
    run = _record(tmp_path, seconds)
    spec = {
        "gate": "error_budget",
        "slo": 0.99,
        "windows": [
            {"long": "10s", "short": "2s", "burn": 10},
            {"long": 60, "short": 10, "burn": 6},
        ],
    }
    v = gate_from_spec(spec).evaluate(_ctx(run))
    assert v.verdict == "fail"
    assert v.evidence["violations"] == [{"long_s": 10.0, "short_s": 2.0, "first_at_second": 33}]
    assert v.observed["budget_spent"] == pytest.approx(2.5)
    assert v.observed["burn"][1]["max_burn"] < 6


def test_error_budget_slow_leak_passes_burn_but_fails_spent(tmp_path: Path) -> None:
    seconds = [(100, 99, {"timeout": 1}, [5.0] * 99)] * 60  # exactly the budget: burn 1
    run = _record(tmp_path, seconds)
    ok = gate_from_spec({"gate": "error_budget", "slo": 0.99}).evaluate(_ctx(run))
    assert ok.verdict == "pass"
    assert ok.observed["budget_spent"] == pytest.approx(1.0)
    strict = gate_from_spec({"gate": "error_budget", "slo": 0.99, "max_spent": 0.5})
    assert strict.evaluate(_ctx(run)).verdict == "fail"


def test_throughput_gate(tmp_path: Path) -> None:
    run = _record(tmp_path, _steady(5, rate=40))
    assert gate_from_spec({"gate": "throughput", "min_rps": 35}).evaluate(_ctx(run)).passed
    v = gate_from_spec({"gate": "throughput", "min_rps": 50}).evaluate(_ctx(run))
    assert v.verdict == "fail"
    assert v.observed["throughput_rps"] == 40


@pytest.mark.parametrize(
    ("spec", "field", "text"),
    [
        ({"gate": "latency", "route": "ner"}, "expect[0]", "at least one"),
        ({"gate": "latency", "p99": 5}, "expect[0].p99", "unknown key"),
        ({"gate": "latency", "p99_ms": -1}, "expect[0].p99_ms", ">= 0"),
        ({"gate": "latency", "p99_ms": 5, "window": {"from": 5, "to": 2}}, "window", "after"),
        ({"gate": "error_ratio"}, "expect[0].max", "required"),
        ({"gate": "error_ratio", "max": 2}, "expect[0].max", "at most 1"),
        ({"gate": "error_budget", "slo": 1.5}, "expect[0].slo", "between"),
        ({"gate": "error_budget", "slo": 0.9, "windows": [{"long": 5}]}, "windows[0]", "short"),
        ({"gate": "nope"}, "expect[0].gate", "unknown gate"),
        ("latency", "expect[0]", "mapping"),
    ],
)
def test_bad_specs_name_the_file_and_field(spec: Any, field: str, text: str) -> None:
    with pytest.raises(ConfigError) as exc:
        gate_from_spec(spec, source="scenarios/x.yaml")
    assert "scenarios/x.yaml" in str(exc.value)
    assert field in str(exc.value)
    assert text in str(exc.value)


@dataclass(frozen=True)
class _ReplicasGate:
    service: str
    at_least: int
    kind: str = "replicas"

    @property
    def name(self) -> str:
        return f"replicas[{self.service}]"

    def evaluate(self, ctx: GateContext) -> Verdict:
        seen = [e["ready"] for e in ctx.of_kind("replicas") if e["service"] == self.service]
        expected = {"at_least": self.at_least}
        if not seen:
            return Verdict(self.name, self.kind, "inconclusive", expected, {}, {})
        ok = max(seen) >= self.at_least
        return Verdict(self.name, self.kind, "pass" if ok else "fail", expected, {"max": max(seen)})


def _replicas_factory(spec: Any, where: Any) -> _ReplicasGate:
    where.check_keys(spec, {"service", "at_least"})
    return _ReplicasGate(spec["service"], int(spec["at_least"]))


def test_other_parts_register_gate_kinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GATES, "replicas", GATES["latency"])  # restored after the test
    register_gate("replicas", _replicas_factory, replace=True)
    with pytest.raises(ValueError, match="already registered"):
        register_gate("replicas", GATES["latency"])
    rec = RunRecord(tmp_path / "r")
    rec.emit("replicas", service="ner", desired=2, ready=2)
    rec.close("pass")
    v = gate_from_spec({"gate": "replicas", "service": "ner", "at_least": 2}).evaluate(
        _ctx(tmp_path / "r")
    )
    assert v.verdict == "pass"
    with pytest.raises(ConfigError, match=r"expect\[0\]\.bogus"):
        gate_from_spec({"gate": "replicas", "bogus": 1})


def test_lazy_registration_by_module_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GATES, "lazy", f"{__name__}:_replicas_factory")
    gate = gate_from_spec({"gate": "lazy", "service": "ner", "at_least": 1})
    assert gate.name == "replicas[ner]"


def test_a_broken_gate_is_inconclusive_not_pass(tmp_path: Path) -> None:
    class Broken:
        kind = "broken"
        name = "broken"

        def evaluate(self, ctx: GateContext) -> Verdict:
            raise RuntimeError("bug")

    (v,) = evaluate_gates([Broken()], GateContext([]))
    assert v.verdict == "inconclusive"
    assert "RuntimeError: bug" in v.evidence["error"]


def test_verdicts_become_gate_events_and_evaluate_run(tmp_path: Path) -> None:
    run = _record(tmp_path, _steady(3))
    verdicts = evaluate_run(
        [{"gate": "latency", "p99_ms": 50}, {"gate": "error_ratio", "max": 0.0}],
        run,
        platform="local",
    )
    assert [v.verdict for v in verdicts] == ["pass", "pass"]
    assert overall_verdict(verdicts) == "pass"
    assert verdicts[0].to_json()["gate"] == "latency[all]"
    rec = RunRecord(tmp_path / "out")
    emit_verdicts(rec, verdicts)
    rec.close("pass")
    events = [e for e in read_events(tmp_path / "out") if e.kind == "gate"]
    assert [e["verdict"] for e in events] == ["pass", "pass"]
    assert events[1]["observed"] == {"ratio": 0.0, "errors": 0, "requests": 300}
    assert overall_verdict([*verdicts, Verdict("x", "x", "fail", {}, {})]) == "fail"


def test_windows_during_a_fault_come_from_the_fault_events(tmp_path: Path) -> None:
    """Errors only while a mesh fault is in force: the whole run passes 5%, the fault window
    does not; a fault the run never had is inconclusive."""
    rec = RunRecord(tmp_path / "run")
    t0 = 1_000_000.0
    for second in range(20):
        faulty = 8 <= second < 12
        rec.emit(
            "load_bucket",
            t=t0 + second + 1,
            start=t0 + second,
            second=second,
            route="all",
            sent=100,
            completed=70 if faulty else 100,
            errors={"http_503": 30} if faulty else {},
            histogram=_hist([400.0 if faulty else 10.0] * (70 if faulty else 100)),
        )
    rec.emit("fault_start", t=t0 + 8.2, fault_id="mesh-1", fault="mesh_fault", target="ner")
    rec.emit("fault_end", t=t0 + 11.9, fault_id="mesh-1", ok=True)
    rec.close("pass")
    ctx = _ctx(tmp_path / "run")
    assert gate_from_spec({"gate": "error_ratio", "max": 0.07}).evaluate(ctx).verdict == "pass"
    during = gate_from_spec(
        {"gate": "error_ratio", "max": 0.07, "window": {"during": "mesh_fault"}}
    ).evaluate(ctx)
    assert during.verdict == "fail"
    assert during.evidence["window"] == {"from_s": 8, "to_s": 12, "during": "mesh_fault"}
    assert during.observed["ratio"] == pytest.approx(0.3)
    latency = gate_from_spec(
        {"gate": "latency", "p99_ms": 100, "window": {"during": "faults", "extend": "2s"}}
    ).evaluate(ctx)
    assert latency.verdict == "fail"
    assert latency.evidence["window"]["to_s"] == 14
    by_id = gate_from_spec({"gate": "error_ratio", "max": 0.5, "window": {"during": "mesh-1"}})
    assert by_id.evaluate(ctx).verdict == "pass"
    none = gate_from_spec({"gate": "error_ratio", "max": 0.5, "window": {"during": "drain"}})
    v = none.evaluate(ctx)
    assert v.verdict == "inconclusive"
    assert "no fault 'drain'" in v.evidence["reason"]
    with pytest.raises(ConfigError, match="during"):
        gate_from_spec({"gate": "latency", "p99_ms": 1, "window": {"during": 5}})


@pytest.mark.parametrize(
    ("spec", "samples", "verdict"),
    [
        ({"p99_ms": 10}, 1, "inconclusive"),  # one sample's "p99" is that sample
        ({"p99_ms": 10}, 99, "inconclusive"),
        ({"p99_ms": 10}, 100, "fail"),
        ({"p95_ms": 10}, 19, "inconclusive"),
        ({"p95_ms": 10}, 20, "fail"),
        ({"p50_ms": 10, "p99_ms": 10}, 50, "inconclusive"),  # the strictest quantile decides
        ({"p99_ms": 10, "min_samples": 5}, 5, "fail"),  # configurable per gate
        ({"p99_ms": 10, "min_samples": 500}, 400, "inconclusive"),
        ({"max_ms": 10}, 1, "fail"),
    ],
)
def test_quantile_gates_need_enough_samples(
    tmp_path: Path, spec: dict[str, Any], samples: int, verdict: str
) -> None:
    run = _record(tmp_path, [(samples, samples, {}, [50.0] * samples)])
    got = gate_from_spec({"gate": "latency", **spec}).evaluate(_ctx(run))
    assert got.verdict == verdict, got
    assert got.observed["samples"] == samples
    if verdict == "inconclusive":
        assert "latency samples, need" in got.evidence["reason"]


def test_min_samples_must_be_a_whole_count() -> None:
    with pytest.raises(ConfigError, match=r"expect\[0\]\.min_samples"):
        gates_from_specs([{"gate": "latency", "p99_ms": 5, "min_samples": 2.5}])
