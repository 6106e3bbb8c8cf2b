"""Compare a run with a baseline run: latency quantiles, throughput and error ratio.

Each metric gets a seeded bootstrap confidence interval for the relative change
(current / baseline - 1) and a label:

* ``regressed`` / ``improved``: the whole interval lies beyond the practical threshold
  (default 5 %) in the bad / good direction;
* ``inconclusive``: otherwise (no data, too few samples, or a change that the data cannot
  tell apart from noise or from the threshold).

Latency comes from the HDR histograms of ``load_summary`` when both runs have them (every
request counts: the histogram is resampled as a multinomial); otherwise from the per-second
buckets (each second's quantile is one observation, resampled). Throughput and error ratio
are resampled per second. Seconds are treated as independent, which understates the width
under strong autocorrelation; the threshold guards against calling small drifts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from harness.errors import RecordError
from reports.model import LoadBucket, LoadSummary, RunData

__all__ = ["Comparison", "MetricComparison", "compare_runs"]

_UNIT_TO_MS = {"us": 1e-3, "ms": 1.0, "ns": 1e-6, "s": 1e3}
_MIN_BUCKETS = 5
_MIN_SAMPLES = 20
_QUANTILES = (50, 95, 99)


@dataclass(frozen=True)
class MetricComparison:
    route: str
    metric: str
    """``p50_ms``, ``p95_ms``, ``p99_ms``, ``throughput_rps`` or ``error_ratio``."""
    baseline: float | None
    current: float | None
    change: float | None
    """Relative change, current / baseline - 1."""
    ci_low: float | None
    ci_high: float | None
    label: str
    """improved / regressed / inconclusive."""
    method: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Comparison:
    baseline_run: str
    current_run: str
    confidence: float
    threshold: float
    seed: int
    resamples: int
    metrics: list[MetricComparison]

    @property
    def regressions(self) -> list[MetricComparison]:
        return [m for m in self.metrics if m.label == "regressed"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseline_run": self.baseline_run,
            "current_run": self.current_run,
            "confidence": self.confidence,
            "threshold": self.threshold,
            "seed": self.seed,
            "resamples": self.resamples,
            "metrics": [m.as_dict() for m in self.metrics],
        }


def compare_runs(
    current: RunData,
    baseline: RunData,
    *,
    seed: int = 0,
    resamples: int = 2000,
    confidence: float = 0.95,
    threshold: float = 0.05,
) -> Comparison:
    """Compare every route both runs measured (``all`` first)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    rng = np.random.default_rng(seed)
    routes = [r for r in _routes(current) if r in _routes(baseline)]
    metrics: list[MetricComparison] = []
    for route in routes:
        metrics += _latency(route, current, baseline, rng, resamples, confidence, threshold)
        cur_b, base_b = current.route_buckets(route), baseline.route_buckets(route)
        for metric, num, den, better in (
            ("throughput_rps", lambda b: b.completed, lambda b: 1, True),
            ("error_ratio", lambda b: b.error_count, lambda b: b.sent, False),
        ):
            metrics.append(
                _ratio_metric(
                    route,
                    metric,
                    _arrays(cur_b, num, den),
                    _arrays(base_b, num, den),
                    higher_is_better=better,
                    rng=rng,
                    resamples=resamples,
                    confidence=confidence,
                    threshold=threshold,
                )
            )
    return Comparison(
        baseline.run_id, current.run_id, confidence, threshold, seed, resamples, metrics
    )


def _routes(run: RunData) -> list[str]:
    names = list(dict.fromkeys([*run.routes, *(s.route for s in run.summaries)]))
    return sorted(names, key=lambda r: (r != "all", r))


_Arrays = tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]


def _arrays(
    bs: Sequence[LoadBucket],
    num: Callable[[LoadBucket], float],
    den: Callable[[LoadBucket], float],
) -> _Arrays:
    return np.array([num(b) for b in bs], dtype=float), np.array([den(b) for b in bs], dtype=float)


def _label(
    lo: float | None, hi: float | None, threshold: float, higher_is_better: bool
) -> tuple[str, str]:
    if lo is None or hi is None:
        return "inconclusive", "no interval"
    if lo > threshold:
        label = "improved" if higher_is_better else "regressed"
        return label, f"interval above +{threshold:.0%}"
    if hi < -threshold:
        label = "regressed" if higher_is_better else "improved"
        return label, f"interval below -{threshold:.0%}"
    if -threshold <= lo and hi <= threshold:
        return "inconclusive", f"interval within ±{threshold:.0%}: no practical change"
    return "inconclusive", "interval crosses the threshold"


def _latency(
    route: str,
    current: RunData,
    baseline: RunData,
    rng: np.random.Generator,
    resamples: int,
    confidence: float,
    threshold: float,
) -> list[MetricComparison]:
    metrics = [f"p{q}_ms" for q in _QUANTILES]
    cur_h, base_h = _histogram(current, route), _histogram(baseline, route)
    if cur_h is not None and base_h is not None:
        (cv, cc), (bv, bc) = cur_h, base_h
        if cc.sum() < _MIN_SAMPLES or bc.sum() < _MIN_SAMPLES:
            return [_nodata(route, m, "hdr", "fewer than 20 requests in a run") for m in metrics]
        boot_c = _hist_boot(cv, cc, rng, resamples)
        boot_b = _hist_boot(bv, bc, rng, resamples)
        return [
            _finish(
                route,
                m,
                _hist_quantile(bv, bc, q),
                _hist_quantile(cv, cc, q),
                boot_b[i],
                boot_c[i],
                confidence,
                threshold,
                False,
                "hdr",
            )
            for i, (m, q) in enumerate(zip(metrics, _QUANTILES, strict=True))
        ]
    out = []
    for m, q in zip(metrics, _QUANTILES, strict=True):
        cur_s = [v for b in current.route_buckets(route) if (v := _bq(b, q)) is not None]
        base_s = [v for b in baseline.route_buckets(route) if (v := _bq(b, q)) is not None]
        if len(cur_s) < _MIN_BUCKETS or len(base_s) < _MIN_BUCKETS:
            out.append(_nodata(route, m, "buckets", "fewer than 5 seconds with latency in a run"))
            continue
        c, b = np.asarray(cur_s), np.asarray(base_s)
        boot_c = np.median(c[rng.integers(0, len(c), (resamples, len(c)))], axis=1)
        boot_b = np.median(b[rng.integers(0, len(b), (resamples, len(b)))], axis=1)
        out.append(
            _finish(
                route,
                m,
                float(np.median(b)),
                float(np.median(c)),
                boot_b,
                boot_c,
                confidence,
                threshold,
                False,
                "buckets (median of per-second quantiles)",
            )
        )
    return out


def _ratio_metric(
    route: str,
    metric: str,
    cur: _Arrays,
    base: _Arrays,
    *,
    higher_is_better: bool,
    rng: np.random.Generator,
    resamples: int,
    confidence: float,
    threshold: float,
) -> MetricComparison:
    """sum(numerator) / sum(denominator) over seconds, resampled by second."""
    if len(cur[0]) < _MIN_BUCKETS or len(base[0]) < _MIN_BUCKETS:
        return _nodata(route, metric, "buckets", "fewer than 5 seconds of load in a run")

    def point(a: _Arrays) -> float:
        d = float(a[1].sum())
        return float(a[0].sum()) / d if d else 0.0

    def boot(a: _Arrays) -> np.ndarray[Any, Any]:
        idx = rng.integers(0, len(a[0]), (resamples, len(a[0])))
        num, den = a[0][idx].sum(axis=1), a[1][idx].sum(axis=1)
        return np.asarray(np.divide(num, den, out=np.zeros_like(num), where=den > 0))

    return _finish(
        route,
        metric,
        point(base),
        point(cur),
        boot(base),
        boot(cur),
        confidence,
        threshold,
        higher_is_better,
        "buckets (per-second bootstrap)",
    )


def _finish(
    route: str,
    metric: str,
    base: float,
    cur: float,
    boot_b: np.ndarray[Any, Any],
    boot_c: np.ndarray[Any, Any],
    confidence: float,
    threshold: float,
    higher_is_better: bool,
    method: str,
) -> MetricComparison:
    alpha = (1 - confidence) / 2
    if base == 0:
        # A relative change from zero is undefined (e.g. no errors in the baseline).
        if cur == 0:
            return MetricComparison(
                route, metric, base, cur, 0.0, 0.0, 0.0, "inconclusive", method, "both zero"
            )
        diff = boot_c - boot_b
        lo, hi = (float(x) for x in np.quantile(diff, [alpha, 1 - alpha]))
        worse = (lo > 0) if not higher_is_better else (hi < 0)
        label = "regressed" if worse else "inconclusive"
        detail = f"baseline zero; absolute difference interval [{lo:.4g}, {hi:.4g}]"
        return MetricComparison(route, metric, base, cur, None, None, None, label, method, detail)
    safe_b = np.where(boot_b == 0, np.nan, boot_b)
    rel = boot_c / safe_b - 1
    rel = rel[np.isfinite(rel)]
    if len(rel) == 0:
        return _nodata(route, metric, method, "every resample of the baseline was zero")
    lo, hi = (float(x) for x in np.quantile(rel, [alpha, 1 - alpha]))
    label, why = _label(lo, hi, threshold, higher_is_better)
    return MetricComparison(route, metric, base, cur, cur / base - 1, lo, hi, label, method, why)


def _nodata(route: str, metric: str, method: str, why: str) -> MetricComparison:
    return MetricComparison(
        route, metric, None, None, None, None, None, "inconclusive", method, why
    )


def _bq(b: LoadBucket, q: int) -> float | None:
    return {50: b.p50_ms, 95: b.p95_ms, 99: b.p99_ms}[q]


def _histogram(
    run: RunData, route: str
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
    summary = next((s for s in run.summaries if s.route == route and s.histogram), None)
    if summary is None:
        return None
    return decode_histogram(summary, run)


def decode_histogram(
    summary: LoadSummary, run: RunData
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(values in ms, counts) of a load_summary's HDR histogram."""
    scale = _UNIT_TO_MS.get(summary.histogram_unit)
    where = f"{run.directory / 'events.jsonl'} (load_summary route {summary.route})"
    if scale is None:
        raise RecordError(where, f"histogram_unit {summary.histogram_unit!r} is not us/ms/ns/s")
    try:
        h = HdrHistogram.decode(summary.histogram)
    except Exception as exc:  # hdrh raises bare ValueError/zlib errors for bad payloads
        raise RecordError(where, f"histogram is not a base64 HDR histogram ({exc})") from exc
    values, counts = [], []
    for item in h.get_recorded_iterator():
        values.append(item.value_iterated_to * scale)
        counts.append(item.count_added_in_this_iter_step)
    return _coarsen(np.asarray(values, dtype=float), np.asarray(counts, dtype=np.int64))


def _coarsen(
    values: np.ndarray[Any, Any], counts: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Merge bins to ~0.5 % value resolution: far finer than the 5 % threshold, and it keeps
    the bootstrap's cost bounded for long runs (thousands of HDR bins -> a few hundred)."""
    if len(values) == 0:
        return values, counts
    keys = np.round(np.log(np.maximum(values, 1e-9)) / np.log1p(0.005)).astype(np.int64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    merged = np.zeros(len(uniq), dtype=np.int64)
    np.add.at(merged, inverse, counts)
    top = np.zeros(len(uniq), dtype=float)
    np.maximum.at(top, inverse, values)  # each merged bin keeps its highest value
    return top, merged


def _hist_quantile(values: np.ndarray[Any, Any], counts: np.ndarray[Any, Any], q: int) -> float:
    cum = np.cumsum(counts)
    idx = int(np.searchsorted(cum, q / 100 * cum[-1], side="left"))
    return float(values[min(idx, len(values) - 1)])


def _hist_boot(
    values: np.ndarray[Any, Any],
    counts: np.ndarray[Any, Any],
    rng: np.random.Generator,
    resamples: int,
) -> list[np.ndarray[Any, Any]]:
    """Bootstrap distributions of each quantile in ``_QUANTILES`` (one draw serves all)."""
    n = int(counts.sum())
    draws = rng.multinomial(n, counts / n, size=resamples)
    cum = np.cumsum(draws, axis=1)
    out = []
    for q in _QUANTILES:
        idx = (cum < (q / 100 * n)).sum(axis=1)
        out.append(values[np.minimum(idx, len(values) - 1)])
    return out
