"""Latency quantiles of a run record by the one definition (``harness.latency.quantile_ms``).

The load table, the baseline comparison and every other p50/p95/p99 a report shows read them
here, from the HDR histograms the record keeps, so one run shows one p99 everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.errors import RecordError
from harness.latency import QUANTILES, decode_histogram, merge_histograms, quantile_ms

if TYPE_CHECKING:
    from reports.model import RunData

__all__ = ["UNIT_MS", "histogram_quantiles", "route_quantiles"]

#: milliseconds per unit a record's histograms may be kept in (``histogram_unit``)
UNIT_MS = {"us": 1e-3, "ms": 1.0, "ns": 1e-6, "s": 1e3}


def _unit_ms(unit: str, where: str) -> float:
    scale = UNIT_MS.get(unit)
    if scale is None:
        raise RecordError(where, f"histogram_unit {unit!r} is not us/ms/ns/s")
    return scale


def _decoded(text: str, where: str) -> Any:
    try:
        return decode_histogram(text)
    except Exception as exc:  # hdrh raises bare ValueError/zlib errors for bad payloads
        raise RecordError(where, f"histogram is not a base64 HDR histogram ({exc})") from exc


def histogram_quantiles(text: str, unit: str, where: str) -> dict[str, float | None]:
    """``p50_ms``/``p95_ms``/``p99_ms`` of one encoded HDR histogram, by the one definition."""
    hist = _decoded(text, where)
    scale = _unit_ms(unit, where)
    return {f"p{q:g}_ms": quantile_ms(hist, q, unit_ms=scale) for q in QUANTILES}


def route_quantiles(run: RunData, route: str) -> dict[str, float | None]:
    """``p50_ms``/``p95_ms``/``p99_ms`` of ``route`` over the whole run, by the one
    definition (:func:`harness.latency.quantile_ms`): the route's summary histogram (what
    the load table shows), else its seconds' histograms merged (a run that crashed)."""
    none: dict[str, float | None] = {f"p{q:g}_ms": None for q in QUANTILES}
    summary = next((s for s in run.summaries if s.route == route and s.histogram), None)
    src = str(run.directory / "events.jsonl")
    if summary is not None and summary.histogram:
        where = f"{src} (load_summary route {route})"
        return histogram_quantiles(summary.histogram, summary.histogram_unit, where)
    parts = [b for b in run.route_buckets(route) if b.histogram]
    units = {b.histogram_unit for b in parts}
    if not parts or len(units) != 1:
        return none
    unit = units.pop()
    where = f"{src} (load_bucket route {route})"
    hist = merge_histograms(_decoded(b.histogram or "", where) for b in parts)
    return {f"p{q:g}_ms": quantile_ms(hist, q, unit_ms=_unit_ms(unit, where)) for q in QUANTILES}
