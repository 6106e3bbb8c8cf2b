"""Loading run records: typed data from a good record, named errors from bad ones."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.errors import RecordError
from harness.record import RunRecord
from reports import SyntheticOptions, load_run, write_synthetic_run


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_run(tmp_path_factory.mktemp("rec") / "sample")


def test_synthetic_record_loads_into_typed_data(sample: Path) -> None:
    run = load_run(sample)
    assert not run.partial
    assert run.synthetic
    assert run.verdict == "pass"
    assert run.scenario.startswith("synthetic-")
    assert run.seed == 7
    assert set(run.routes) == {"all", "ner", "vision"}
    assert len(run.route_buckets("all")) == 90
    # Buckets are placed on the run clock: load starts 5 s after run_start.
    assert run.route_buckets("all")[0].t == pytest.approx(5.0, abs=0.01)
    faults = {f.fault_id: f for f in run.faults}
    assert faults["f1"].start == pytest.approx(40.0, abs=0.01)
    assert faults["f1"].end == pytest.approx(100.0, abs=0.01)
    assert faults["f1"].rolled_back is True
    assert not any(f.open for f in run.faults)
    alert = next(a for a in run.alerts if a.name == "NodeSpotInterruption")
    assert alert.pending is not None
    assert alert.firing is not None
    assert alert.resolved is not None
    assert alert.pending < alert.firing < alert.resolved
    names = {m.name for m in run.measurements}
    assert {"cold_start_s", "recovery_s", "rpo_s", "rto_s"} <= names
    assert [g.verdict for g in run.gates] == ["pass"] * 6
    assert run.services() == ["ner", "vision"]
    assert {s.route for s in run.summaries} == {"all", "ner", "vision"}


def test_synthetic_record_is_reproducible(tmp_path: Path) -> None:
    a = load_run(write_synthetic_run(tmp_path / "a", SyntheticOptions(seed=3)))
    b = load_run(write_synthetic_run(tmp_path / "b", SyntheticOptions(seed=3)))
    c = load_run(write_synthetic_run(tmp_path / "c", SyntheticOptions(seed=4)))
    assert [x.sent for x in a.buckets] == [x.sent for x in b.buckets]
    assert [x.p99_ms for x in a.buckets] == [x.p99_ms for x in b.buckets]
    assert [x.sent for x in a.buckets] != [x.sent for x in c.buckets]


def test_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match=r"nope: no such run directory"):
        load_run(tmp_path / "nope")


def test_a_file_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(RecordError, match="not a directory"):
        load_run(tmp_path / "f")


def test_directory_without_events_is_named(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    with pytest.raises(RecordError, match=r"r/events.jsonl: no events.jsonl"):
        load_run(tmp_path / "r")


def test_empty_events_file(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "events.jsonl").write_text("")
    with pytest.raises(RecordError, match="empty: no run_start"):
        load_run(tmp_path / "r")


def test_malformed_line_names_file_and_line(sample: Path, tmp_path: Path) -> None:
    lines = (sample / "events.jsonl").read_text().splitlines()
    lines[4] = lines[4][:20]  # a broken line that is not the last one
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "events.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordError, match=r"events.jsonl:5: not JSON"):
        load_run(tmp_path / "r")


def _record(tmp_path: Path, *events: dict[str, object]) -> Path:
    d = tmp_path / "r"
    d.mkdir(exist_ok=True)
    start = {"seq": 0, "t": 100.0, "kind": "run_start", "scenario": "s", "platform": "local"}
    body = [start, *({"seq": i + 1, "t": 101.0 + i, **e} for i, e in enumerate(events))]
    (d / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in body))
    return d


def test_wrong_field_type_names_line_and_field(tmp_path: Path) -> None:
    d = _record(
        tmp_path, {"kind": "load_bucket", "second": 0, "sent": "ten", "completed": 1, "errors": {}}
    )
    with pytest.raises(RecordError, match=r"events.jsonl:2: sent must be a number, not 'ten'"):
        load_run(d)


def test_missing_required_field_is_named(tmp_path: Path) -> None:
    d = _record(tmp_path, {"kind": "replicas", "service": "ner", "desired": 2})
    with pytest.raises(RecordError, match=r"events.jsonl:2: replicas event is missing \['ready'\]"):
        load_run(d)


def test_fault_end_without_start(tmp_path: Path) -> None:
    d = _record(tmp_path, {"kind": "fault_end", "fault_id": "x", "ok": True})
    with pytest.raises(RecordError, match="fault_id 'x' that never started"):
        load_run(d)


def test_first_event_must_be_run_start(tmp_path: Path) -> None:
    d = tmp_path / "r"
    d.mkdir()
    (d / "events.jsonl").write_text('{"seq":0,"t":1,"kind":"note","message":"x"}\n')
    with pytest.raises(RecordError, match="expected run_start"):
        load_run(d)


def test_odd_gate_verdicts_and_alert_states_are_shown_not_fatal(tmp_path: Path) -> None:
    d = _record(
        tmp_path,
        {"kind": "gate", "gate": "g", "verdict": "maybe"},
        {"kind": "alert", "name": "A", "state": "screaming"},
        {"kind": "alert", "name": "B", "state": "pending", "source": "prometheus"},
        {"kind": "alert", "name": "B", "state": "inactive", "source": "prometheus"},
    )
    run = load_run(d)
    assert run.gates[0].verdict == "inconclusive"
    assert len(run.warnings) == 2
    assert "events.jsonl:2: gate 'g' verdict 'maybe'" in run.warnings[0]
    assert "events.jsonl:3: alert 'A' state 'screaming'" in run.warnings[1]
    assert [(a.name, a.source, a.resolved) for a in run.alerts] == [("B", "prometheus", 4.0)]


def test_crashed_run_loads_as_partial(tmp_path: Path) -> None:
    """A harness process dies mid-run: no summary, a torn last line; still readable."""
    crash = f"""
        import os
        from harness.record import RunRecord
        rec = RunRecord({str(tmp_path / "r")!r})
        rec.emit("run_start", scenario="crashy", platform="local")
        rec.emit("fault_start", fault_id="f1", fault="kill", target="ner")
        rec.emit("load_bucket", second=0, sent=5, completed=5, errors={{}}, p99_ms=3.0)
        os._exit(9)
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(crash)], check=False, timeout=60)
    assert proc.returncode == 9
    with (tmp_path / "r" / "events.jsonl").open("a") as f:
        f.write('{"seq": 3, "t": 1.0, "kind": "lo')
    run = load_run(tmp_path / "r")
    assert run.partial
    assert run.verdict == "partial"
    assert run.summary is None
    assert run.faults[0].open
    assert len(run.buckets) == 1


def test_alert_that_fires_again_gets_a_new_span(tmp_path: Path) -> None:
    rec = RunRecord(tmp_path / "r")
    rec.emit("run_start", scenario="s", platform="local")
    for state in ("firing", "resolved", "resolved", "pending", "firing"):
        rec.emit("alert", name="A", state=state, labels={"x": "1"})
    rec.close("pass")
    spans = load_run(tmp_path / "r").alerts
    assert len(spans) == 2
    assert spans[0].firing is not None
    assert spans[0].resolved is not None
    assert spans[1].pending is not None
    assert spans[1].resolved is None


REAL = Path(__file__).parent / "data" / "reports" / "real-echo-delay"


def test_recorded_real_run_loads(tmp_path: Path) -> None:
    """A record the load generator wrote against a real HTTP server (see
    test_reports_real_run.py, which makes a fresh one): the format the reader must keep."""
    run = load_run(REAL)
    assert not run.partial
    assert not run.synthetic
    assert run.verdict == "pass"
    assert run.routes == ["echo", "all"]
    assert [b.second for b in run.route_buckets("all")] == list(range(6))
    assert sum(b.sent for b in run.route_buckets("all")) == 371
    assert run.faults[0].fault == "delay"
    assert run.faults[0].end == pytest.approx(4.0, abs=0.05)
    # Bucket 2 (the first whole second inside the 2-4 s delay window) shows the delay.
    delayed = run.route_buckets("all")[2]
    assert delayed.p50_ms is not None
    assert delayed.p50_ms > 40
    assert {s.route for s in run.summaries if s.histogram} == {"echo", "all"}


def test_synthetic_crash_ends_where_it_crashed(tmp_path: Path) -> None:
    run = load_run(write_synthetic_run(tmp_path / "c", SyntheticOptions(crash_at_s=30)))
    assert run.partial
    assert run.duration_s == pytest.approx(5 + 30 + 0.1, abs=0.2)
    assert max(b.second for b in run.buckets) == 29
