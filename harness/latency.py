"""Latency histograms (HDR) shared by the load generator, the gates and the reports.

Values are recorded in microseconds with 3 significant digits (0.1% value precision; ~140 KB
per live histogram, ~100 bytes encoded, which is how finished seconds are kept). Histograms
travel between processes
and into the run record as HDR's compressed base64 form, and merge exactly (``add``), so a
percentile over any window or any set of workers is computed from the merged counts, never by
averaging percentiles.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = [
    "HIGHEST_US",
    "LOWEST_US",
    "Histogram",
    "decode_histogram",
    "encode_histogram",
    "merge_histograms",
    "new_histogram",
    "percentiles_ms",
    "record_us",
]

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour: longer latencies are clamped to it

Histogram = HdrHistogram


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


def percentiles_ms(hist: HdrHistogram) -> dict[str, float | None]:
    """p50/p95/p99/max in milliseconds; all None for an empty histogram (no data is not 0)."""
    if hist.get_total_count() == 0:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": round(hist.get_value_at_percentile(50) / 1000, 3),
        "p95_ms": round(hist.get_value_at_percentile(95) / 1000, 3),
        "p99_ms": round(hist.get_value_at_percentile(99) / 1000, 3),
        "max_ms": round(hist.get_max_value() / 1000, 3),
    }
