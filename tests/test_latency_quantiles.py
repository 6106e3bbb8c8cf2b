"""One quantile definition (HDR's) for every p50/p95/p99 the project prints: the load
generator's summary, the gates, the report's load table and what a baseline comparison reads
as a run's own value all agree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.gates import evaluate_run
from harness.latency import (
    decode_histogram,
    histogram_of,
    percentiles_ms,
    quantile_ms,
    quantile_of,
    rank_at,
    ranks_at,
)
from harness.record import RunRecord, read_events
from loadtests.arrivals import build_schedule
from loadtests.routes import build_targets
from loadtests.runner import run_load
from loadtests.settings import load_settings_from_env
from loadtests.shapes import ConstantRate
from loadtests.testing import EchoServer, echo_server
from reports import SyntheticOptions, load_run, render_markdown, write_synthetic_run
from reports.quantiles import route_quantiles


@pytest.fixture(scope="module")
def server() -> Iterator[EchoServer]:
    with echo_server(latency_ms=3) as srv:
        yield srv


@pytest.mark.parametrize("n", [1, 2, 7, 20, 70, 99, 100, 101, 150, 1000])
@pytest.mark.parametrize("q", [50.0, 95.0, 99.0])
def test_rank_rule_is_hdrs(n: int, q: float) -> None:
    values = [float(v) for v in range(1, n + 1)]  # rank k holds k ms
    assert quantile_of(values, q) == pytest.approx(rank_at(n, q), rel=1e-3)
    assert int(ranks_at(np.array([n, n]), q)[0]) == rank_at(n, q)
    assert quantile_ms(histogram_of({float(v): 1 for v in values}), q) == quantile_of(values, q)


def test_no_data_is_none_not_zero() -> None:
    assert quantile_of([], 99) is None
    assert percentiles_ms(histogram_of([]))["p99_ms"] is None


def test_a_real_run_shows_one_p99_everywhere(server: EchoServer, tmp_path: Path) -> None:
    sched = build_schedule(ConstantRate(150, 2), {"ner": 0.6, "vision": 0.4}, seed=3)
    targets = build_targets(sched.routes, {}, url=server.url)
    settings = load_settings_from_env(start_delay_s=0.2, grace_s=0.1)
    run_dir = tmp_path / "run"
    with RunRecord(run_dir) as rec:
        rec.emit("run_start", scenario="t", platform="local")
        run_load(sched, targets, settings=settings, record=rec, progress=False)
        rec.close("pass")
    events = list(read_events(run_dir))
    run = load_run(run_dir)
    for route in ("ner", "vision", "all"):
        (summary_event,) = [
            e for e in events if e.kind == "load_summary" and e.get("route") == route
        ]
        own = percentiles_ms(decode_histogram(summary_event["histogram"]))
        (table,) = [s for s in run.summaries if s.route == route]  # the load table's row
        compared = route_quantiles(run, route)  # what a baseline comparison reads
        (verdict,) = evaluate_run(
            [{"gate": "latency", "route": route, "p99_ms": 1e6, "min_samples": 1}], run_dir
        )
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            assert summary_event[key] == own[key] == getattr(table, key) == compared[key]
        assert verdict.observed["p99_ms"] == own["p99_ms"]
        row = next(r for r in render_markdown(run).splitlines() if r.startswith(f"| {route} |"))
        assert row.endswith(f"| {own['p99_ms']:.4g} |")  # the load table's p99 column


def test_synthetic_records_use_the_same_definition(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "syn", SyntheticOptions(duration_s=5))
    run = load_run(run_dir)
    for b in run.buckets:
        if b.histogram:
            own = percentiles_ms(decode_histogram(b.histogram))
            assert (b.p50_ms, b.p95_ms, b.p99_ms) == (
                own["p50_ms"],
                own["p95_ms"],
                own["p99_ms"],
            )
    for s in run.summaries:
        assert s.p99_ms == route_quantiles(run, s.route)["p99_ms"]


def test_a_crashed_run_reads_its_seconds(tmp_path: Path) -> None:
    run_dir = write_synthetic_run(tmp_path / "c", SyntheticOptions(duration_s=6, crash_at_s=4))
    run = load_run(run_dir)
    assert not run.summaries
    merged = histogram_of([])
    for b in run.route_buckets("ner"):
        if b.histogram:
            merged.add(decode_histogram(b.histogram))
    assert route_quantiles(run, "ner")["p99_ms"] == quantile_ms(merged, 99)
