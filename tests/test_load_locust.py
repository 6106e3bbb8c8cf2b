"""The Locust engine against a real local server: the schedule kept, latency from the intended
time, Locust's statistics and the run record in agreement, and the planner's ``engine:`` key.

Locust monkey-patches whatever imports it, so everything Locust runs here runs in processes of
its own (``loadtests.locust_runner``, ``locust -f``); this test process never imports it.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.record import RunRecord, read_events
from harness.scenario import parse_scenario
from loadtests.arrivals import Schedule, build_schedule
from loadtests.locust_pool import LocustDistributed
from loadtests.plan import plan_load
from loadtests.routes import build_targets
from loadtests.runner import LoadResult, ProcessWorkers, default_pool, run_load
from loadtests.settings import LoadSettings, load_settings_from_env
from loadtests.shapes import ConstantRate
from loadtests.testing import EchoServer, echo_server
from loadtests.timeline import ALL

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server() -> Iterator[EchoServer]:
    with echo_server(latency_ms=2) as srv:
        yield srv


def _locust(workers: int = 0, **kw: float) -> LoadSettings:
    return load_settings_from_env(engine="locust", workers=workers, start_delay_s=0.5, **kw)


def _run(
    srv: EchoServer, schedule: Schedule, settings: LoadSettings, record: RunRecord | None = None
) -> LoadResult:
    targets = build_targets(schedule.routes, {}, url=srv.url)
    return run_load(schedule, targets, settings=settings, record=record, progress=False)


def test_the_locust_engine_sends_the_whole_schedule_and_records_it(
    server: EchoServer, tmp_path: Path
) -> None:
    schedule = build_schedule(ConstantRate(100, 2.0), {"ner": 0.5, "vision": 0.5}, seed=3)
    before = server.requests_seen()
    with RunRecord(tmp_path) as record:
        result = _run(server, schedule, _locust(), record)
    assert server.requests_seen() - before == len(schedule)
    total = result.summary()
    assert total.sent == total.completed == len(schedule)
    assert total.errors == {}
    assert {r: result.summary(r).sent for r in schedule.routes} == schedule.counts()
    # Locust's own statistics saw the same requests, each once
    assert result.locust_requests == len(schedule)
    assert result.locust_failures == 0
    assert result.unsent == 0
    assert total.lag.get_total_count() == len(schedule)
    assert Schedule.read(tmp_path / "arrivals.json").t_us.tolist() == schedule.t_us.tolist()
    # Locust ran elsewhere: nothing of it (or of gevent's patching) leaked into this process
    assert "locust" not in sys.modules
    assert "gevent.monkey" not in sys.modules or not _patched()
    events = list(read_events(tmp_path))
    summaries = {e["route"]: e for e in events if e.kind == "load_summary"}
    assert summaries[ALL]["sent"] == len(schedule)
    assert sum(e["sent"] for e in events if e.kind == "load_bucket" and e["route"] == ALL) == len(
        schedule
    )


def _patched() -> bool:
    import gevent.monkey

    return bool(gevent.monkey.is_module_patched("socket"))


def test_latency_runs_from_the_intended_time_and_the_loop_stays_open(tmp_path: Path) -> None:
    # Every answer takes 300 ms: a closed loop of one user would send ~7 of the 60 requests in
    # 2 s; the open loop sends all on time, and each latency includes the server's 300 ms.
    schedule = build_schedule(ConstantRate(30, 2.0), {"ner": 1.0}, seed=5)
    with echo_server(latency_ms=300) as srv:
        result = _run(srv, schedule, _locust())
    total = result.summary()
    assert total.completed == len(schedule)
    assert total.hist.get_value_at_percentile(1) >= 299_000  # HDR: 3 significant digits
    assert result.last_dispatch_s < schedule.duration_s + 0.5
    assert total.lag.get_value_at_percentile(50) < 50_000


def test_waiting_for_a_busy_connection_is_latency_not_hidden() -> None:
    # One connection, 50 ms answers: 20 a second get through while 40 are due, so requests
    # queue behind the connection and their latency (from the intended time) grows to seconds.
    schedule = build_schedule(ConstantRate(40, 2.0), {"ner": 1.0}, seed=6)
    with echo_server(latency_ms=50) as srv:
        result = _run(srv, schedule, _locust(max_connections=1, timeout_s=20))
    total = result.summary()
    assert total.completed == len(schedule)
    assert total.hist.get_value_at_percentile(99) >= 1_500_000
    assert total.hist.get_value_at_percentile(1) < 200_000


def test_errors_are_counted_alike_by_locust_and_the_record() -> None:
    schedule = build_schedule(ConstantRate(80, 1.5), {"ner": 1.0}, seed=9)
    with echo_server(error_ratio=0.5, seed=2) as srv:
        result = _run(srv, schedule, _locust())
    total = result.summary()
    assert total.sent == len(schedule)
    assert 0 < total.errors.get("http_500", 0) < len(schedule)
    assert result.locust_requests == total.completed + total.error_count
    assert result.locust_failures == total.error_count


def test_two_locust_workers_send_the_schedule_between_them(server: EchoServer) -> None:
    schedule = build_schedule(ConstantRate(120, 2.0), {"ner": 1.0}, seed=11)
    before = server.requests_seen()
    result = _run(server, schedule, _locust(workers=2))
    assert server.requests_seen() - before == len(schedule)
    assert result.summary().completed == len(schedule)
    assert result.locust_requests == len(schedule)


def test_the_engine_picks_the_pool() -> None:
    pool = default_pool(load_settings_from_env(engine="locust"))
    assert isinstance(pool, ProcessWorkers)
    assert pool.count == 1
    assert pool.module == "loadtests.locust_runner"
    assert isinstance(default_pool(_locust(workers=2)), LocustDistributed)
    native = default_pool(load_settings_from_env(engine="native", workers=2))
    assert isinstance(native, ProcessWorkers)
    assert native.module == "loadtests.worker"


def test_the_planner_reads_engine_and_refuses_an_unknown_one() -> None:
    spec = {"shape": "open-loop", "rate": 2, "duration": "1s", "engine": "locust"}
    assert plan_load(spec, {"ner": "http://127.0.0.1:1"}).settings.engine == "locust"
    with pytest.raises(ConfigError) as err:
        plan_load({**spec, "engine": "wrk"}, {"ner": "http://127.0.0.1:1"}, source="x.yaml")
    assert err.value.field == "load.engine"
    with pytest.raises(ConfigError):
        load_settings_from_env(engine="wrk")


DAY = "name: day\nload: {LOAD}\nexpect:\n  - {gate: error_ratio, max: 0.01}\n"


def test_a_scenario_names_its_engine_and_the_plan_gets_it() -> None:
    load = "{shape: open-loop, rate: 2, duration: 1s, engine: locust}"
    spec = parse_scenario(DAY.replace("{LOAD}", load), source="day.yaml").load
    assert plan_load(spec, {"ner": "http://127.0.0.1:1"}).settings.engine == "locust"
    with pytest.raises(ConfigError) as err:
        parse_scenario(DAY.replace("{LOAD}", load.replace("locust", "wrk")), source="day.yaml")
    assert "day.yaml:2 [load.engine]" in str(err.value)


def test_locust_by_hand_replays_arrivals_and_its_stats_match_the_record(
    server: EchoServer, tmp_path: Path
) -> None:
    schedule = build_schedule(ConstantRate(50, 2.0), {"ner": 1.0}, seed=4)
    schedule.write(tmp_path / "arrivals.json")
    cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "locustfile.py")]
    cmd += ["--headless", "--host", server.url, "--arrivals", str(tmp_path / "arrivals.json")]
    cmd += ["--msai-record", str(tmp_path / "rec"), "--csv", str(tmp_path / "stats")]
    cmd += ["--only-summary", "--loglevel", "WARNING"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSAI_LOAD_")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    with open(tmp_path / "stats_stats.csv", encoding="utf-8") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    summary = next(
        e for e in read_events(tmp_path / "rec") if e.kind == "load_summary" and e["route"] == ALL
    )
    assert int(rows["Aggregated"]["Request Count"]) == summary["sent"] == len(schedule)
    assert int(rows["Aggregated"]["Failure Count"]) == sum(summary["errors"].values()) == 0
    # the same latencies: Locust's max is exact, the record's an HDR value (3 digits)
    assert float(rows["Aggregated"]["Max Response Time"]) == pytest.approx(
        summary["max_ms"], rel=0.01
    )
    replayed = Schedule.read(tmp_path / "rec" / "arrivals.json")
    assert replayed.t_us.tolist() == schedule.t_us.tolist()
