"""Latency histograms (HDR) shared by the load generator, the gates and the reports.

Values are recorded in microseconds with 3 significant digits (0.1% value precision; ~140 KB
per live histogram, ~100 bytes encoded, which is how finished seconds are kept). Histograms
travel between processes
and into the run record as HDR's compressed base64 form, and merge exactly (``add``), so a
percentile over any window or any set of workers is computed from the merged counts, never by
averaging percentiles.

One quantile definition for every p50/p95/p99 the project prints or judges: HDR's
(:func:`quantile_ms`): the value at rank ``max(1, round_half_up(q / 100 * n))`` of the counts,
reported as the highest value equivalent to it at the histogram's precision. Code holding raw
latencies records them into a histogram (:func:`histogram_of`) instead of sorting a list, and
code holding its own counts (a bootstrap's resamples) picks the rank with :func:`rank_at`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

__all__ = [
    "HIGHEST_US",
    "LOWEST_US",
    "QUANTILES",
    "Histogram",
    "decode_histogram",
    "encode_histogram",
    "histogram_of",
    "merge_histograms",
    "new_histogram",
    "percentiles_ms",
    "quantile_ms",
    "quantile_of",
    "rank_at",
    "ranks_at",
    "record_us",
]

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: longer latencies are clamped to it

Histogram = HdrHistogram

#: the quantiles (percent) reports and comparisons show
QUANTILES = (50.0, 95.0, 99.0)


def new_histogram(digits: int = 3) -> HdrHistogram:
    """An empty histogram of microseconds (1 us .. 1 h) with ``digits`` significant digits."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, digits)


def record_us(hist: HdrHistogram, value_us: float) -> None:
    """Record one latency, clamped into the histogram's range."""
    hist.record_value(min(max(int(value_us), LOWEST_US), HIGHEST_US))


def encode_histogram(hist: HdrHistogram) -> str:
    """Compressed base64 text (HDR's own wire format)."""
    raw: Any = hist.encode()
    return raw.decode("ascii") if isinstance(raw, bytes) else str(raw)


def decode_histogram(text: str) -> HdrHistogram:
    return HdrHistogram.decode(text.encode("ascii"))


def merge_histograms(parts: Iterable[HdrHistogram | str], digits: int = 3) -> HdrHistogram:
    """One histogram holding every count of ``parts`` (histograms or encoded strings)."""
    total = new_histogram(digits)
    for part in parts:
        total.add(decode_histogram(part) if isinstance(part, str) else part)
    return total


def histogram_of(values_ms: Iterable[float] | Mapping[Any, int]) -> HdrHistogram:
    """A histogram of latencies in milliseconds: a sequence of values, or value -> count."""
    hist = new_histogram()
    if isinstance(values_ms, Mapping):
        for value, count in values_ms.items():
            if count > 0:
                us = min(max(int(value * 1000), LOWEST_US), HIGHEST_US)
                hist.record_value(us, int(count))
    else:
        for value in values_ms:
            record_us(hist, value * 1000)
    return hist


def rank_at(total: float, q: float) -> int:
    """The 1-based rank among ``total`` ordered counts whose value is the ``q`` % quantile
    (HDR's rule: ``q / 100 * total`` rounded half up, at least 1)."""
    return max(1, math.floor(min(q, 100.0) / 100 * total + 0.5))


def ranks_at(totals: npt.ArrayLike, q: float) -> npt.NDArray[np.int64]:
    """:func:`rank_at` of each of ``totals`` (a bootstrap's resampled counts, at once)."""
    ranks = np.floor(min(q, 100.0) / 100 * np.asarray(totals, dtype=float) + 0.5)
    return np.maximum(1, ranks).astype(np.int64)


def quantile_ms(hist: HdrHistogram, q: float, *, unit_ms: float = 1e-3) -> float | None:
    """The ``q`` % quantile in milliseconds (3 decimals); None for an empty histogram.
    ``unit_ms``: milliseconds per recorded unit (microseconds unless a record says else)."""
    if hist.get_total_count() == 0:
        return None
    return round(float(hist.get_value_at_percentile(q)) * unit_ms, 3)


def quantile_of(values_ms: Iterable[float], q: float) -> float | None:
    """The ``q`` % quantile of raw latencies (ms), by the same definition as every other."""
    return quantile_ms(histogram_of(values_ms), q)


def percentiles_ms(hist: HdrHistogram) -> dict[str, float | None]:
    """p50/p95/p99/max in milliseconds; all None for an empty histogram (no data is not 0)."""
    if hist.get_total_count() == 0:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": quantile_ms(hist, 50),
        "p95_ms": quantile_ms(hist, 95),
        "p99_ms": quantile_ms(hist, 99),
        "max_ms": round(hist.get_max_value() / 1000, 3),
    }
