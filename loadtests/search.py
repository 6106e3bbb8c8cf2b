"""The ramp search: the highest constant open-loop rate that still meets an objective.

As MLPerf's Server scenario does it: run fixed-rate trials of seeded Poisson arrivals, grow
the rate geometrically until a trial misses the objective, then bisect between the last rate
that met it and the first that did not, until the two are within ``precision``. Every trial
is a complete open-loop run (its own schedule, same seed), so each verdict stands alone.

    result = find_max_rate(targets, {"ner": 1}, p99_ms=100, start=20)
    result.best_rate, result.trials

:func:`search_max_rate` is the search alone, over any ``trial(rate) -> Trial``; the load
benchmark uses it with "the generator kept its schedule" as the objective.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loadtests.arrivals import build_schedule
from loadtests.routes import Target
from loadtests.runner import LoadResult, WorkerPool, run_load
from loadtests.settings import LoadSettings
from loadtests.shapes import ConstantRate

__all__ = ["SearchResult", "Trial", "find_max_rate", "search_max_rate"]


@dataclass(frozen=True)
class Trial:
    rate: float
    ok: bool
    why: str = ""  # what missed the objective, or the headline figures when met
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    best_rate: float | None  # None: even the start rate missed the objective
    trials: list[Trial]

    @property
    def best(self) -> Trial | None:
        met = [t for t in self.trials if t.ok and t.rate == self.best_rate]
        return met[-1] if met else None


def search_max_rate(
    trial: Callable[[float], Trial],
    *,
    start: float,
    growth: float = 1.5,
    precision: float = 0.05,
    max_rate: float = 1e6,
    max_trials: int = 20,
) -> SearchResult:
    """Geometric growth from ``start`` until a miss, then bisection to ``precision``
    (relative gap between the best met rate and the lowest missed one)."""
    if start <= 0 or growth <= 1 or not 0 < precision < 1:
        raise ValueError("need start > 0, growth > 1, 0 < precision < 1")
    trials: list[Trial] = []
    lo: float | None = None
    hi: float | None = None
    rate = start
    while len(trials) < max_trials:
        t = trial(rate)
        trials.append(t)
        if t.ok:
            lo = rate
            if hi is None:
                if rate >= max_rate:
                    break
                rate = min(rate * growth, max_rate)
                continue
        else:
            hi = rate
            if lo is None:
                # Missed at the start: step down until something is met (or give up).
                if rate / growth < start / growth**3:
                    break
                rate /= growth
                continue
        if lo is None or hi is None:  # unreachable: both set once we get here
            break
        if (hi - lo) / lo <= precision:
            break
        rate = (lo + hi) / 2
    return SearchResult(lo, trials)


def find_max_rate(
    targets: Mapping[str, Target],
    mix: Mapping[str, float],
    *,
    p99_ms: float,
    max_error_ratio: float = 0.0,
    start: float = 10.0,
    trial_s: float = 10.0,
    seed: int = 1,
    precision: float = 0.05,
    max_trials: int = 20,
    max_rate: float = 1e6,
    settings: LoadSettings | None = None,
    pool: Callable[[], WorkerPool] | None = None,
) -> SearchResult:
    """The highest rate (requests/s) whose trial keeps p99 (from intended send times) within
    ``p99_ms`` and the error ratio within ``max_error_ratio``; a trial with no completed
    request misses."""

    def trial(rate: float) -> Trial:
        schedule = build_schedule(ConstantRate(rate, trial_s), mix, seed, search_rate=rate)
        result: LoadResult = run_load(
            schedule,
            targets,
            settings=settings,
            pool=pool() if pool else None,
            progress=False,
        )
        summary = result.summary()
        fields = summary.event_fields()
        p99 = fields["p99_ms"]
        ratio = summary.error_ratio
        figures = {"p99_ms": p99, "error_ratio": ratio, "throughput_rps": fields["throughput_rps"]}
        if p99 is None or ratio is None:
            return Trial(rate, False, "no request completed", figures)
        if p99 > p99_ms:
            return Trial(rate, False, f"p99 {p99:.1f} ms > {p99_ms:g} ms", figures)
        if ratio > max_error_ratio:
            return Trial(rate, False, f"error ratio {ratio:.4f} > {max_error_ratio:g}", figures)
        return Trial(rate, True, f"p99 {p99:.1f} ms, errors {ratio:.4f}", figures)

    return search_max_rate(
        trial, start=start, precision=precision, max_trials=max_trials, max_rate=max_rate
    )
