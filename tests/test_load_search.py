"""The ramp search (MLPerf Server style) and the Locust users, against real local servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.errors import PlatformError
from loadtests.routes import build_targets
from loadtests.search import Trial, find_max_rate, search_max_rate
from loadtests.settings import load_settings_from_env
from loadtests.stock import run_stock
from loadtests.testing import echo_server


def test_search_brackets_the_limit_to_the_precision() -> None:
    seen: list[float] = []

    def trial(rate: float) -> Trial:
        seen.append(rate)
        return Trial(rate, rate <= 137)

    result = search_max_rate(trial, start=10, precision=0.02)
    assert result.best_rate is not None
    assert 137 / 1.02 <= result.best_rate <= 137
    assert seen[:3] == [10, 15, 22.5]  # geometric growth first
    assert result.best is not None
    assert result.best.rate == result.best_rate
    nothing = search_max_rate(lambda r: Trial(r, False), start=10)
    assert nothing.best_rate is None
    assert len(nothing.trials) <= 5
    with pytest.raises(ValueError, match="growth"):
        search_max_rate(trial, start=1, growth=1)


def test_find_max_rate_stays_below_a_saturated_servers_capacity() -> None:
    # 4 ms service time, one at a time: 250 requests/s at most; p99 <= 60 ms only below it
    with echo_server(latency_ms=4, concurrency=1) as srv:
        result = find_max_rate(
            build_targets(["ner"], {}, url=srv.url),
            {"ner": 1},
            p99_ms=60,
            start=40,
            trial_s=1.5,
            precision=0.15,
            max_trials=8,
            settings=load_settings_from_env(start_delay_s=0.2, grace_s=0.1),
        )
    assert result.best_rate is not None
    assert 40 <= result.best_rate < 250
    missed = [t for t in result.trials if not t.ok]
    assert missed, "the search never found the limit"
    assert all("p99" in t.why or "error" in t.why for t in missed)


def test_stock_locust_users_run_in_their_own_process() -> None:
    with echo_server() as srv:
        result = run_stock(srv.url, route="vision", users=4, seconds=1.0, warmup_s=0.3)
    assert result.requests > 50
    assert result.failures == 0
    assert result.p99_ms is not None
    assert "locust" not in sys.modules, "Locust (and its monkey-patching) leaked into pytest"
    with pytest.raises(PlatformError, match="stock Locust run failed"):
        run_stock("http://127.0.0.1:9", route="no-such-route", users=1, seconds=0.2)


def test_locust_cli_runs_the_weighted_mix_user() -> None:
    with echo_server() as srv:
        env = {
            **os.environ,
            "MSAI_LOAD_ENDPOINTS": f"ner={srv.url},vision={srv.url},orchestrator={srv.url}",
            "MSAI_LOAD_MIX": "ner=2,vision=1,text-insights=1,document-entities=1",
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                "loadtests/users.py",
                "--headless",
                "-u",
                "4",
                "-r",
                "4",
                "-t",
                "2s",
                "--json",
                "--only-summary",
                "MixUser",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    stats = {s["name"]: s for s in json.loads(done.stdout)}
    assert set(stats) == {"ner", "vision", "text-insights", "document-entities"}
    assert all(s["num_failures"] == 0 for s in stats.values())
    assert stats["ner"]["num_requests"] > stats["vision"]["num_requests"]


def test_bench_load_prints_both_rates_the_ratio_and_the_gap() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "msai",
            "bench",
            "load",
            "--trial",
            "500ms",
            "--start-rate",
            "200",
            "--precision",
            "0.5",
            "--users",
            "8",
            "--saturate-ms",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    out = done.stdout
    for text in (
        "closed loop, stock Locust",
        "highest rate with the schedule within 1%",
        "ratio open/stock",
        "Locust reports p99",
        "coordinated-omission gap",
    ):
        assert text in out, out
