"""One human-readable line per gate verdict, for terminals and CI logs.

``describe_gate`` reads a verdict's fields (``Verdict.event_fields()``, or the ``gate`` event
of a run record) and says what was compared with what, in the gate's own terms::

    gate error_ratio[all]: pass (error ratio 0.0012 <= 0.01; 3 of 2500 requests)
    gate latency[ner]: fail (p99 312 ms > 250 ms; 4100 samples)
    gate replicas[ner]: inconclusive (no data)

The structured fields stay in the run record and in ``--json``; this is only their reading.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["describe_gate", "format_value"]

_PCT_LABEL = {
    "p50_ms": "p50",
    "p95_ms": "p95",
    "p99_ms": "p99",
    "max_ms": "max",
}


def format_value(value: Any) -> str:
    """A value as a person reads it: 4 significant digits, lists joined, mappings as k=v."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value) or "none"
    return str(value)


def _cmp(observed: float, limit: float, *, upper: bool) -> str:
    ok = observed <= limit if upper else observed >= limit
    if upper:
        return "<=" if ok else ">"
    return ">=" if ok else "<"


def _latency(expected: Mapping[str, Any], observed: Mapping[str, Any]) -> list[str]:
    parts = []
    for key, limit in expected.items():
        got = observed.get(key)
        if isinstance(got, (int, float)) and isinstance(limit, (int, float)):
            label = _PCT_LABEL.get(key, key)
            op = _cmp(got, limit, upper=True)
            parts.append(f"{label} {format_value(float(got))} ms {op} {format_value(limit)} ms")
    if "samples" in observed:
        parts.append(f"{observed['samples']} samples")
    return parts


def _error_ratio(expected: Mapping[str, Any], observed: Mapping[str, Any]) -> list[str]:
    ratio, limit = observed.get("ratio"), expected.get("max")
    parts = []
    if isinstance(ratio, (int, float)) and isinstance(limit, (int, float)):
        op = _cmp(ratio, limit, upper=True)
        parts.append(f"error ratio {ratio:.4f} {op} {format_value(limit)}")
    if "requests" in observed:
        parts.append(f"{observed.get('errors', 0)} of {observed['requests']} requests failed")
    return parts


def _throughput(expected: Mapping[str, Any], observed: Mapping[str, Any]) -> list[str]:
    rps, limit = observed.get("throughput_rps"), expected.get("min_rps")
    if isinstance(rps, (int, float)) and isinstance(limit, (int, float)):
        op = _cmp(rps, limit, upper=False)
        return [f"throughput {format_value(float(rps))} req/s {op} {format_value(limit)} req/s"]
    return []


def _error_budget(expected: Mapping[str, Any], observed: Mapping[str, Any]) -> list[str]:
    parts = []
    if "budget_spent" in observed:
        spent = f"budget spent {format_value(observed['budget_spent'])}"
        if "max_spent" in expected:
            spent += f" (max {format_value(expected['max_spent'])})"
        parts.append(spent + f" at SLO {format_value(expected.get('slo'))}")
    limits = {(w["long_s"], w["short_s"]): w["max_burn"] for w in expected.get("windows", [])}
    for w in observed.get("burn", []):
        limit = limits.get((w["long_s"], w["short_s"]))
        window = f"{format_value(w['long_s'])}s/{format_value(w['short_s'])}s"
        parts.append(
            f"burn {format_value(w['max_burn'])} over {window} (max {format_value(limit)})"
        )
    return parts


def _replicas(expected: Mapping[str, Any], observed: Mapping[str, Any]) -> list[str]:
    bound = "at_least" if "at_least" in expected else "at_most"
    op = ">=" if bound == "at_least" else "<="
    want = f"{expected.get('count', 'ready')} replicas {op} {format_value(expected.get(bound))}"
    if expected.get("within_s") is not None:
        want += f" within {format_value(expected['within_s'])} s"
    if not observed:
        return [want]
    reached = observed.get("reached_after_s")
    got = "never reached" if reached is None else f"reached after {format_value(reached)} s"
    seen = f"min {observed.get('min')}, max {observed.get('max')}, last {observed.get('last')}"
    return [f"{want}: {got} ({seen})"]


def _alert(expected: Mapping[str, Any], observed: Mapping[str, Any]) -> list[str]:
    if not observed:
        return []
    if not observed.get("fired"):
        return ["never fired"]
    fired = f"fired after {format_value(observed.get('fired_after_s'))} s"
    if expected.get("fires_within_s") is not None:
        fired += f" (within {format_value(expected['fires_within_s'])} s)"
    parts = [fired]
    if expected.get("resolves"):
        if observed.get("resolved"):
            res = f"resolved after {format_value(observed.get('resolved_after_s'))} s"
            if expected.get("resolves_within_s") is not None:
                res += f" (within {format_value(expected['resolves_within_s'])} s)"
            parts.append(res)
        else:
            parts.append("never resolved")
    if expected.get("delivered"):
        if observed.get("delivered"):
            parts.append(f"delivered after {format_value(observed.get('delivered_after_s'))} s")
        else:
            parts.append("never delivered to a receiver")
    return parts


def _generic(expected: Mapping[str, Any], observed: Mapping[str, Any]) -> list[str]:
    parts = []
    if expected:
        parts.append(f"expected {format_value(expected)}")
    if observed:
        parts.append(f"observed {format_value(observed)}")
    return parts


_KINDS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]] = {
    "latency": _latency,
    "error_ratio": _error_ratio,
    "throughput": _throughput,
    "error_budget": _error_budget,
    "replicas": _replicas,
    "alert": _alert,
}


def describe_gate(fields: Mapping[str, Any]) -> str:
    """``gate NAME: VERDICT (what was compared)``; an inconclusive gate also says why."""
    expected = fields.get("expected") or {}
    observed = fields.get("observed") or {}
    evidence = fields.get("evidence") or {}
    kind = str(fields.get("gate_kind") or fields.get("kind") or "")
    parts = _KINDS.get(kind, _generic)(expected, observed)
    if fields.get("verdict") != "pass":
        why = evidence.get("reason") or evidence.get("why") or evidence.get("error")
        if why:
            parts.append(str(why))
    head = f"gate {fields.get('gate')}: {fields.get('verdict')}"
    return f"{head} ({'; '.join(parts)})" if parts else head
