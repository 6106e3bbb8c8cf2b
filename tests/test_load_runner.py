"""The open-loop generator against a real local server: counts, timeline, record, honesty."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.errors import ConfigError, PlatformError
from harness.gates import evaluate_run
from harness.ports import free_port
from harness.record import RunRecord, read_events
from loadtests.arrivals import Schedule, build_schedule
from loadtests.progress import Progress, quiet
from loadtests.routes import build_targets
from loadtests.runner import ProcessWorkers, run_load
from loadtests.settings import load_settings_from_env
from loadtests.shapes import ConstantRate
from loadtests.testing import EchoServer, echo_server
from loadtests.timeline import ALL


@pytest.fixture(scope="module")
def server() -> Iterator[EchoServer]:
    with echo_server(latency_ms=2) as srv:
        yield srv
    assert not psutil.pid_exists(srv.pid) or psutil.Process(srv.pid).status() == "zombie"


def _settings(**kw: float) -> object:
    return load_settings_from_env(start_delay_s=0.2, grace_s=0.1, **kw)


def test_in_process_run_counts_every_request_and_records_it(
    server: EchoServer, tmp_path: Path
) -> None:
    before = server.requests_seen()
    sched = build_schedule(ConstantRate(100, 3), {"ner": 0.5, "vision": 0.5}, seed=5)
    targets = build_targets(sched.routes, {}, url=server.url)
    with RunRecord(tmp_path / "run") as rec:
        result = run_load(sched, targets, settings=_settings(), record=rec, progress=False)
        rec.close("pass")
    total = result.summary()
    assert total.sent == total.completed == len(sched)
    assert server.requests_seen() - before == len(sched)
    assert total.errors == {}
    assert result.summary("ner").sent == sched.counts()["ner"]
    p = total.event_fields()
    assert 2.0 <= p["p50_ms"] < 100  # the server's 2 ms service time is the floor
    assert p["rate_rps"] == pytest.approx(len(sched) / 3, rel=0.01)
    # record: arrivals.json replays exactly; continuous per-second buckets for every route
    replay = Schedule.read(tmp_path / "run" / "arrivals.json")
    assert (replay.t_us == sched.t_us).all()
    events = list(read_events(tmp_path / "run"))
    buckets = [e for e in events if e.kind == "load_bucket"]
    seconds = sorted({e["second"] for e in buckets})
    assert seconds == list(range(len(seconds)))
    assert len(seconds) >= 3
    assert {e["route"] for e in buckets} == {"ner", "vision", ALL}
    assert sum(e["sent"] for e in buckets if e["route"] == ALL) == len(sched)
    assert sum(e["completed"] for e in buckets if e["route"] == "ner") == sched.counts()["ner"]
    full = [e for e in buckets if e["route"] == ALL and e["completed"]]
    assert all(e["p99_ms"] is not None and e["histogram"] for e in full)
    summaries = {e["route"]: e for e in events if e.kind == "load_summary"}
    assert set(summaries) == {"ner", "vision", ALL}
    # the gates read it
    verdicts = evaluate_run(
        [{"gate": "latency", "p50_ms": 1000}, {"gate": "error_ratio", "max": 0}], tmp_path / "run"
    )
    assert [v.verdict for v in verdicts] == ["pass", "pass"]


def test_distributed_workers_give_the_same_result_format(server: EchoServer) -> None:
    sched = build_schedule(ConstantRate(150, 2), {"ner": 1, "vision": 1}, seed=9)
    targets = build_targets(sched.routes, {}, url=server.url)
    pool = ProcessWorkers(2)
    result = run_load(sched, targets, settings=_settings(), pool=pool, progress=False)
    assert result.summary().sent == result.summary().completed == len(sched)
    assert result.summary("vision").completed == sched.counts()["vision"]
    assert sum(b.sent for b in result.buckets()) == len(sched)
    assert result.summary().event_fields()["p99_ms"] is not None
    assert not [pid for pid in pool.pids if psutil.pid_exists(pid)], "worker outlived the run"


def test_errors_are_counted_by_kind() -> None:
    with echo_server(error_ratio=0.3, seed=4) as srv:
        sched = build_schedule(ConstantRate(100, 1), {"ner": 1}, seed=2)
        result = run_load(
            sched, build_targets(["ner"], {}, url=srv.url), settings=_settings(), progress=False
        )
    s = result.summary()
    assert s.completed + s.errors["http_500"] == len(sched)
    assert 0.15 < s.error_ratio < 0.45  # type: ignore[operator]
    dead = f"http://127.0.0.1:{free_port()}"
    sched = build_schedule(ConstantRate(30, 1), {"ner": 1}, seed=2)
    result = run_load(
        sched, build_targets(["ner"], {}, url=dead), settings=_settings(), progress=False
    )
    assert result.summary().errors == {"connection_refused": len(sched)}
    assert result.summary().completed == 0
    assert result.summary().event_fields()["p99_ms"] is None  # no data, not 0


def test_latency_counts_from_the_intended_send_time() -> None:
    """A 600 ms stall: a closed-loop client would see one slow request per connection; every
    request due during the stall waited for it, and the open-loop p99 shows that."""
    with echo_server(latency_ms=1, concurrency=4) as srv:
        sched = build_schedule(ConstantRate(200, 3), {"ner": 1}, seed=1)
        targets = build_targets(["ner"], {}, url=srv.url)
        timer = threading.Timer(1.2, lambda: srv.configure(pause_ms=600))
        timer.start()
        try:
            result = run_load(sched, targets, settings=_settings(), progress=False)
        finally:
            timer.cancel()
    p = result.summary().event_fields()
    # ~20% of requests were due in or queued behind the stall: p95 and p99 carry it
    assert p["p99_ms"] > 300, p
    assert p["p50_ms"] < 100, p
    assert result.summary().completed == len(sched)


def test_stop_ends_the_load_early_and_keeps_what_was_measured(server: EchoServer) -> None:
    sched = build_schedule(ConstantRate(50, 30), {"ner": 1}, seed=3)
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    started = time.monotonic()
    result = run_load(
        sched,
        build_targets(["ner"], {}, url=server.url),
        settings=_settings(),
        stop=stop,
        progress=False,
    )
    assert time.monotonic() - started < 10
    assert result.stopped
    assert 0 < result.summary().sent < len(sched)
    assert result.unsent == len(sched) - result.summary().sent


def test_a_worker_that_dies_is_an_error_naming_it(server: EchoServer) -> None:
    sched = build_schedule(ConstantRate(10, 1), {"ner": 1}, seed=3)
    targets = build_targets(["ner"], {}, url=server.url)
    bad = {"ner": type(targets["ner"])("ner", "POST", "ftp://x/y", {}, [b""])}
    with pytest.raises(PlatformError, match=r"worker 0 .*only http"):
        run_load(sched, bad, settings=_settings(), pool=ProcessWorkers(1), progress=False)


def test_progress_lines_and_quiet_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert quiet()
    monkeypatch.delenv("CI")
    monkeypatch.setenv("MSAI_QUIET", "1")
    assert quiet()
    monkeypatch.delenv("MSAI_QUIET")
    assert not quiet()
    sched = build_schedule(ConstantRate(20, 1), {"ner": 1}, seed=1)
    out = io.StringIO()
    progress = Progress(2, 1, enabled=True, out=out)
    from loadtests.timeline import Bucket

    progress.second(Bucket(0, ALL, sent=20, completed=19))
    assert "rate" in out.getvalue()
    assert "20.0/s" in out.getvalue()
    silent = io.StringIO()
    Progress(2, 1, enabled=False, out=silent).second(Bucket(0, ALL, sent=len(sched)))
    assert silent.getvalue() == ""


def test_a_scenario_load_block_runs_and_replays_exactly(server: EchoServer, tmp_path: Path) -> None:
    from harness.platform.base import Endpoint
    from loadtests import plan_load, run_spec

    endpoints = {
        "ner": Endpoint("ner", server.url, "ner"),
        "vision": Endpoint("vision", server.url, "vision"),
    }
    spec = {
        "shape": "step",
        "steps": [{"rate": 20, "for": 1}, {"rate": 60, "for": 1}],
        "seed": 4,
        "timeout": "2s",
    }
    with RunRecord(tmp_path / "first") as rec:
        first = run_spec(spec, endpoints, record=rec, source="s.yaml", progress=False)
        rec.close("pass")
    assert set(first.schedule.routes) == {"ner", "vision"}  # default mix: what is offered
    assert first.summary().completed == len(first.schedule)
    replay = plan_load({"replay": str(tmp_path / "first" / "arrivals.json")}, endpoints)
    assert (replay.schedule.t_us == first.schedule.t_us).all()
    assert (replay.schedule.payload == first.schedule.payload).all()
    assert replay.settings.timeout_s == load_settings_from_env().timeout_s
    assert plan_load(spec, endpoints).settings.timeout_s == 2.0
    with pytest.raises(ConfigError, match=r"load\.workers"):
        plan_load({**spec, "workers": -1}, endpoints, source="s.yaml")
    with pytest.raises(ConfigError, match=r"load\.mix"):
        plan_load({"rate": 1, "duration": 1}, {"orchestrator": server.url})
    with pytest.raises(ConfigError, match="no such file"):
        plan_load({"replay": str(tmp_path / "none.json")}, endpoints)


def test_importing_loadtests_patches_nothing() -> None:
    import subprocess
    import sys

    code = (
        "import sys, loadtests, loadtests.runner, loadtests.bench;"
        "bad = [m for m in ('gevent', 'locust') if m in sys.modules];"
        "assert not bad, bad"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_worker_started_with_t0_up_front_as_a_pod_would_be(
    server: EchoServer, tmp_path: Path
) -> None:
    import dataclasses
    import json
    import subprocess
    import sys

    sched = build_schedule(ConstantRate(50, 1), {"ner": 1}, seed=2)
    targets = build_targets(["ner"], {}, url=server.url)
    plan = {
        "schedule": sched.to_json(),
        "targets": {r: t.to_json() for r, t in targets.items()},
        "settings": dataclasses.asdict(load_settings_from_env(grace_s=0.1)),
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.worker",
            f"--plan={tmp_path / 'plan.json'}",
            "--part=0",
            "--of=1",
            f"--t0={time.time() + 1.0}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    assert messages[0] == {"type": "ready"}
    assert messages[-1]["type"] == "done"
    assert messages[-1]["routes"]["ner"]["completed"] == len(sched)
    assert sum(m["sent"] for m in messages if m["type"] == "bucket") == len(sched)
