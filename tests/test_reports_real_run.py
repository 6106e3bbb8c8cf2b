"""A real, small run: the load generator (issue 5) sends open-loop load to a real HTTP
server in another process, a real delay fault is switched on and off mid-run, and the
record it leaves is reported. Proves the reader and the writers agree on the format and
that load seconds and fault windows land on the same clock."""

import platform
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.binaries import find
from harness.errors import MissingBinary
from harness.record import RunRecord
from msai.cli import main
from reports import load_run
from reports.browser import check_page

runner = pytest.importorskip("loadtests.runner", reason="the load generator is not installed")
testing = pytest.importorskip("loadtests.testing", reason="the load generator is not installed")
arrivals = pytest.importorskip("loadtests.arrivals", reason="the load generator is not installed")
shapes = pytest.importorskip("loadtests.shapes", reason="the load generator is not installed")
routes = pytest.importorskip("loadtests.routes", reason="the load generator is not installed")

RATE, DURATION, FAULT_AT, FAULT_FOR, BASE_MS, DELAY_MS = 60.0, 6.0, 2.0, 2.0, 2.0, 40.0


def _fault(rec: RunRecord, server: Any, t0: float, done: threading.Event) -> None:
    """At FAULT_AT s into the load add DELAY_MS to every response, for FAULT_FOR s."""
    time.sleep(max(0.0, t0 + FAULT_AT - time.time()))
    rec.emit("fault_start", fault_id="d1", fault="delay", target="echo", params={"ms": DELAY_MS})
    server.configure(latency_ms=BASE_MS + DELAY_MS)
    try:
        done.wait(FAULT_FOR)
    finally:
        server.configure(latency_ms=BASE_MS)
        rec.emit("fault_end", fault_id="d1", ok=True)
        rec.emit("fault_rollback", fault_id="d1", ok=True)


def _real_run(directory: Path) -> Path:
    shape = shapes.ConstantRate(rate=RATE, duration=DURATION)
    schedule = arrivals.build_schedule(shape, {"echo": 1.0}, seed=5)
    spec = {"name": "real-echo-delay", "load": shape.to_spec(), "faults": [{"kind": "delay"}]}
    with testing.echo_server(latency_ms=BASE_MS) as server, RunRecord(directory) as rec:
        rec.emit(
            "run_start",
            scenario="real-echo-delay",
            platform="local",
            seed=5,
            env={"host": platform.node(), "python": platform.python_version(), "server": "echo"},
            spec=spec,
        )
        rec.emit("replicas", service="echo", desired=1, ready=1)
        target = routes.Target("echo", "POST", f"{server.url}/v2/models/echo/infer", {}, [b"{}"])
        done = threading.Event()
        t0 = time.time()
        fault = threading.Thread(target=_fault, args=(rec, server, t0, done), daemon=True)
        fault.start()
        try:
            result = runner.run_load(schedule, {"echo": target}, record=rec, progress=False)
        finally:
            done.set()
            fault.join(timeout=10)
        p99 = result.summary().event_fields()["p99_ms"]
        verdict = "pass" if p99 is not None and p99 < 1000 else "fail"
        rec.emit(
            "gate",
            gate="latency",
            verdict=verdict,
            expected={"p99_ms": {"<": 1000}},
            observed={"p99_ms": p99},
            evidence={"sent": result.summary().sent},
        )
        rec.close(verdict, scenario="real-echo-delay")
    return directory


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _real_run(tmp_path_factory.mktemp("real") / "real-echo-delay")


def test_real_record_loads_and_lines_up(real: Path) -> None:
    run = load_run(real)
    assert not run.partial
    assert run.verdict == "pass"
    assert set(run.routes) == {"all", "echo"}
    assert run.summaries
    assert any(s.histogram for s in run.summaries)
    fault = run.faults[0]
    assert fault.end is not None
    assert fault.rolled_back is True
    inside, outside = [], []
    for b in run.route_buckets("all"):
        if b.p50_ms is None:
            continue
        mid = b.t + 0.5
        if fault.start + 0.3 < mid < fault.end - 0.3:
            inside.append(b.p50_ms)
        elif mid < fault.start - 0.3 or mid > fault.end + 0.6:
            outside.append(b.p50_ms)
    assert inside
    assert outside
    # The delay shows in exactly the seconds the fault window covers on the report's clock.
    assert min(inside) > max(outside) + DELAY_MS / 2, (inside, outside)


def test_real_record_reports(real: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", str(real), "--format", "html,md,json,junit", "--out", str(tmp_path)])
    assert exc.value.code == 0
    html = (tmp_path / "report.html").read_text()
    assert "SYNTHETIC" not in html
    assert 'data-plot="latency-all"' in html


def test_real_report_renders_in_chromium(real: Path, tmp_path: Path) -> None:
    try:
        find("chromium")
    except MissingBinary as exc:
        pytest.skip(f"headless Chromium is needed: {exc}")
    with pytest.raises(SystemExit):
        main(["report", str(real), "--format", "html", "--out", str(tmp_path)])
    check = check_page(tmp_path / "report.html")
    assert check.console_errors == []
    assert check.external_requests == []
    assert {p.name for p in check.plots} >= {"latency-all", "throughput", "replicas"}
