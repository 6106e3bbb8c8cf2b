"""Compare a run with a baseline run: latency quantiles, throughput and error ratio.

Each metric gets a seeded bootstrap confidence interval for the relative change
(current / baseline - 1) and a label:

* ``regressed`` / ``improved``: the whole interval lies beyond the practical threshold
  (default 5 %) in the bad / good direction;
* ``inconclusive``: otherwise (no data, too few samples, or a change that the data cannot
  tell apart from noise or from the threshold).

Seconds of a run are not independent (a fault, a scale-up, a GC pause lasts several), so
resampling is by moving blocks of consecutive seconds (block length ~ n^(1/3)). Latency, best
first: per-second HDR histograms (what the load generator writes; every request counts and
the seconds are block-resampled), else the run's HDR histogram (requests resampled as if
independent: narrower intervals), else each second's quantile as one observation. Throughput
and error ratio come from the per-second counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from harness.errors import RecordError
from harness.latency import ranks_at
from reports.model import LoadBucket, LoadSummary, RunData
from reports.quantiles import route_quantiles

__all__ = ["Comparison", "MetricComparison", "compare_runs"]

_UNIT_TO_MS = {"us": 1e-3, "ms": 1.0, "ns": 1e-6, "s": 1e3}
_MIN_BUCKETS = 5
_MIN_SAMPLES = 20
_QUANTILES = (50, 95, 99)
_BIN = float(np.log1p(0.005))


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

    def finish(
        points: tuple[dict[str, float | None], dict[str, float | None]],
        boots: tuple[list[np.ndarray[Any, Any]], list[np.ndarray[Any, Any]]],
        method: str,
    ) -> list[MetricComparison]:
        # The points are the load table's own quantiles (one definition in every table);
        # the bootstrap only says how far they may move.
        out = []
        for i, m in enumerate(metrics):
            cur, base = points[0][m], points[1][m]
            if cur is None or base is None:
                out.append(_nodata(route, m, method, "no latency histogram in a run"))
                continue
            out.append(
                _finish(
                    route,
                    m,
                    base,
                    cur,
                    boots[1][i],
                    boots[0][i],
                    confidence,
                    threshold,
                    False,
                    method,
                )
            )
        return out

    per_second = _second_histograms(current, route), _second_histograms(baseline, route)
    if per_second[0] is not None and per_second[1] is not None:
        (cv, cm), (bv, bm) = _common_bins(per_second[0], per_second[1])
        if cm.sum() < _MIN_SAMPLES or bm.sum() < _MIN_SAMPLES:
            return [_nodata(route, m, "hdr", "fewer than 20 requests in a run") for m in metrics]
        if len(cm) >= _MIN_BUCKETS and len(bm) >= _MIN_BUCKETS:
            length = _block_length(min(len(cm), len(bm)))
            return finish(
                (route_quantiles(current, route), route_quantiles(baseline, route)),
                (
                    _matrix_boot(cv, cm, rng, resamples, length),
                    _matrix_boot(bv, bm, rng, resamples, length),
                ),
                f"hdr per second, {length} s block bootstrap",
            )
    cur_h, base_h = _histogram(current, route), _histogram(baseline, route)
    if cur_h is not None and base_h is not None:
        (cv, cc), (bv, bc) = cur_h, base_h
        if cc.sum() < _MIN_SAMPLES or bc.sum() < _MIN_SAMPLES:
            return [_nodata(route, m, "hdr", "fewer than 20 requests in a run") for m in metrics]
        return finish(
            (route_quantiles(current, route), route_quantiles(baseline, route)),
            (_hist_boot(cv, cc, rng, resamples), _hist_boot(bv, bc, rng, resamples)),
            "hdr (requests resampled as independent)",
        )
    out = []
    for m, q in zip(metrics, _QUANTILES, strict=True):
        cur_s = [v for b in current.route_buckets(route) if (v := _bq(b, q)) is not None]
        base_s = [v for b in baseline.route_buckets(route) if (v := _bq(b, q)) is not None]
        if len(cur_s) < _MIN_BUCKETS or len(base_s) < _MIN_BUCKETS:
            out.append(_nodata(route, m, "buckets", "fewer than 5 seconds with latency in a run"))
            continue
        c, b = np.asarray(cur_s), np.asarray(base_s)
        length = _block_length(min(len(c), len(b)))
        boot_c = np.median(c[_block_indices(rng, len(c), resamples, length)], axis=1)
        boot_b = np.median(b[_block_indices(rng, len(b), resamples, length)], axis=1)
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
                f"median of per-second quantiles, {length} s block bootstrap",
            )
        )
    return out


def _block_length(n: int) -> int:
    root: float = n ** (1 / 3)
    return max(1, round(root))


def _block_indices(
    rng: np.random.Generator, n: int, resamples: int, length: int
) -> np.ndarray[Any, Any]:
    """Moving-block bootstrap: rows of n indices made of runs of ``length`` seconds."""
    length = min(length, n)
    blocks = -(-n // length)
    starts = rng.integers(0, n - length + 1, (resamples, blocks))
    idx = (starts[:, :, None] + np.arange(length)[None, None, :]).reshape(resamples, -1)
    return idx[:, :n]


def _block_weights(
    rng: np.random.Generator, n: int, resamples: int, length: int
) -> np.ndarray[Any, Any]:
    """How often each second is drawn in each resample (resamples x n)."""
    idx = _block_indices(rng, n, resamples, length)
    weights = np.zeros((resamples, n), dtype=np.float64)
    np.add.at(weights, (np.arange(resamples)[:, None], idx), 1.0)
    return weights


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

    length = _block_length(min(len(cur[0]), len(base[0])))

    def boot(a: _Arrays) -> np.ndarray[Any, Any]:
        w = _block_weights(rng, len(a[0]), resamples, length)
        num, den = w @ a[0], w @ a[1]
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
        f"per-second counts, {length} s block bootstrap",
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
    where = f"{run.directory / 'events.jsonl'} (load_summary route {summary.route})"
    return _coarsen(*_decode(summary.histogram or "", summary.histogram_unit, where))


def _decode(text: str, unit: str, where: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    scale = _UNIT_TO_MS.get(unit)
    if scale is None:
        raise RecordError(where, f"histogram_unit {unit!r} is not us/ms/ns/s")
    try:
        h = HdrHistogram.decode(text)
    except Exception as exc:  # hdrh raises bare ValueError/zlib errors for bad payloads
        raise RecordError(where, f"histogram is not a base64 HDR histogram ({exc})") from exc
    # What hdrh's recorded-value iterator yields (highest equivalent value, count per
    # non-empty bin), computed on the counts array at once: the iterator walks every bin
    # in Python and took seconds for a run's worth of per-second histograms.
    counts = np.ctypeslib.as_array(h.counts)[: h.counts_len].astype(np.int64)
    idx = np.nonzero(counts)[0]
    bucket = (idx >> h.sub_bucket_half_count_magnitude) - 1
    sub = (idx & (h.sub_bucket_half_count - 1)) + h.sub_bucket_half_count
    first = bucket < 0
    sub = np.where(first, sub - h.sub_bucket_half_count, sub)
    bucket = np.where(first, 0, bucket)
    shift = bucket + h.unit_magnitude
    highest = (sub.astype(np.int64) << shift) + (np.int64(1) << shift) - 1
    return highest.astype(float) * scale, counts[idx]


def _keys(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Log bins of ~0.5 % width (ceil: a bin's value is never below what it holds)."""
    keys: np.ndarray[Any, Any] = np.ceil(np.log(np.maximum(values, 1e-9)) / _BIN - 1e-9)
    return keys.astype(np.int64)


def _coarsen(
    values: np.ndarray[Any, Any], counts: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Merge bins to ~0.5 % value resolution: far finer than the 5 % threshold, and it keeps
    the bootstrap's cost bounded for long runs (thousands of HDR bins -> a few hundred)."""
    if len(values) == 0:
        return values, counts
    keys = _keys(values)
    uniq, inverse = np.unique(keys, return_inverse=True)
    merged = np.zeros(len(uniq), dtype=np.int64)
    np.add.at(merged, inverse, counts)
    top = np.zeros(len(uniq), dtype=float)
    np.maximum.at(top, inverse, values)  # each merged bin keeps its highest value
    return top, merged


def _matrix_boot(
    values: np.ndarray[Any, Any],
    matrix: np.ndarray[Any, Any],
    rng: np.random.Generator,
    resamples: int,
    length: int,
) -> list[np.ndarray[Any, Any]]:
    """Quantiles of block-resampled seconds: each resample merges its seconds' histograms."""
    merged = _block_weights(rng, matrix.shape[0], resamples, length) @ matrix
    cum = np.cumsum(merged, axis=1)
    total = cum[:, -1:]
    out = []
    for q in _QUANTILES:
        idx = (cum < ranks_at(total, q)).sum(axis=1)
        out.append(values[np.minimum(idx, len(values) - 1)])
    return out


def _second_histograms(run: RunData, route: str) -> list[dict[int, int]] | None:
    """Per second of ``route``: log-bin key -> count; None unless every second that
    completed requests carries a histogram."""
    out: list[dict[int, int]] = []
    src = str(run.directory / "events.jsonl")
    for b in run.route_buckets(route):
        if b.histogram is None:
            if b.completed:
                return None
            out.append({})
            continue
        where = f"{src} (load_bucket route {route} second {b.second})"
        values, counts = _decode(b.histogram, b.histogram_unit, where)
        keys = _keys(values)
        row: dict[int, int] = {}
        for k, c in zip(keys.tolist(), counts.tolist(), strict=True):
            row[k] = row.get(k, 0) + c
        out.append(row)
    return out or None


def _common_bins(
    a: list[dict[int, int]], b: list[dict[int, int]]
) -> tuple[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]], ...]:
    """Both runs' seconds as count matrices over one shared, sorted set of bins."""
    keys = sorted({k for row in (*a, *b) for k in row})
    col = {k: i for i, k in enumerate(keys)}
    values = np.exp(np.asarray(keys, dtype=float) * _BIN)

    def matrix(rows: list[dict[int, int]]) -> np.ndarray[Any, Any]:
        m = np.zeros((len(rows), len(keys)), dtype=np.float64)
        for i, row in enumerate(rows):
            for k, c in row.items():
                m[i, col[k]] = c
        return m

    return (values, matrix(a)), (values, matrix(b))


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
        idx = (cum < ranks_at(n, q)).sum(axis=1)
        out.append(values[np.minimum(idx, len(values) - 1)])
    return out
