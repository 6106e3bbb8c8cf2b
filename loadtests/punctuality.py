"""Does an engine keep the schedule? The share of requests sent within 1 ms and 10 ms of their
intended time, per engine and rate, against the local echo server; medians of ``--repeat``.

    python -m loadtests.punctuality --rates 2,6,12,16,20,40,2000,5000 --engines native,locust

Each run is a constant-rate schedule of ``--seconds`` (at least ``--min-requests`` arrivals, so
low rates last longer) sent by :func:`loadtests.runner.run_load` with the engine's default
pool. The dispatch lag of every request is in the run's lag histogram; a share counts the
requests whose lag's HDR bucket lies wholly within the bound (so it never flatters).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass

from harness.latency import Histogram
from loadtests.arrivals import build_schedule
from loadtests.routes import build_targets
from loadtests.runner import run_load
from loadtests.settings import ENGINES, load_settings_from_env
from loadtests.shapes import ConstantRate
from loadtests.testing import echo_server

__all__ = ["Punctuality", "measure", "share_within"]


def share_within(lag: Histogram, bound_us: int) -> float | None:
    """Share of the recorded lags at or below ``bound_us`` (None when nothing was sent)."""
    total = lag.get_total_count()
    if not total:
        return None
    within = sum(
        item.count_at_value_iterated_to
        for item in lag.get_recorded_iterator()
        if item.value_iterated_to <= bound_us
    )
    return float(within / total)


@dataclass(frozen=True)
class Punctuality:
    engine: str
    rate: float
    runs: int
    within_1ms: float  # median over the runs
    within_10ms: float
    sent: int  # median requests a run
    errors: int  # median errors a run


def measure(
    engine: str,
    rate: float,
    *,
    seconds: float = 5.0,
    min_requests: int = 60,
    repeat: int = 3,
    workers: int = 0,
) -> Punctuality:
    duration = max(seconds, min_requests / rate)
    w1, w10, sent, errors = [], [], [], []
    settings = load_settings_from_env(engine=engine, workers=workers)
    with echo_server() as srv:
        for i in range(repeat):
            schedule = build_schedule(ConstantRate(rate, duration), {"ner": 1.0}, seed=100 + i)
            targets = build_targets(schedule.routes, {}, url=srv.url)
            result = run_load(schedule, targets, settings=settings, progress=False)
            total = result.summary()
            w1.append(share_within(total.lag, 1_000) or 0.0)
            w10.append(share_within(total.lag, 10_000) or 0.0)
            sent.append(total.sent)
            errors.append(total.error_count)
    return Punctuality(
        engine,
        rate,
        repeat,
        statistics.median(w1),
        statistics.median(w10),
        int(statistics.median(sent)),
        int(statistics.median(errors)),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.punctuality")
    parser.add_argument("--rates", default="2,6,12,16,20,40,2000,5000")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"{'engine':8} {'rate/s':>7} {'sent':>6} {'errors':>6} {'<=1ms':>7} {'<=10ms':>7}")
    for rate in (float(r) for r in args.rates.split(",")):
        for engine in args.engines.split(","):
            p = measure(
                engine, rate, seconds=args.seconds, repeat=args.repeat, workers=args.workers
            )
            print(
                f"{p.engine:8} {p.rate:7g} {p.sent:6d} {p.errors:6d} "
                f"{p.within_1ms:7.1%} {p.within_10ms:7.1%}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
