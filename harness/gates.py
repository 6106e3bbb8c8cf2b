"""Gates: expectations turned into verdicts, evaluated in this one place.

A scenario's ``expect:`` list declares gates, one mapping each, named by ``gate``::

    expect:
      - {gate: latency, route: ner, p99_ms: 250}              # also p50_ms, p95_ms, max_ms
      - {gate: latency, p99_ms: 250, min_samples: 50}         # default: 100 for p99
      - {gate: latency, p95_ms: 100, window: {from: 30s, to: 90s}}
      - {gate: error_ratio, max: 0.01}                        # route, window, exclude: [kinds]
      - {gate: error_ratio, max: 0.05, window: {during: mesh_fault, extend: 5s}}
      - {gate: error_budget, slo: 0.99, windows: [{long: 60s, short: 5s, burn: 14.4}]}
      - {gate: throughput, route: ner, min_rps: 35}

Every gate reads the run record's events (:class:`GateContext`) and returns a :class:`Verdict`
(pass / fail / inconclusive) with what was expected, what was observed and the evidence; a gate
without data says "inconclusive", never "pass". :func:`emit_verdicts` writes them as ``gate``
events. Other parts add gate kinds (replicas, alerts, ...) through the same interface: a class
following :class:`Gate` and a factory registered with :func:`register_gate`, or a lazy
``"module:factory"`` entry in :data:`GATES` so nothing is imported before it is used.

Latency percentiles come from HDR histograms merged over the window (never averaged
percentiles) and need enough samples to mean something (p99: 100, p95: 20, p50: 2, else
inconclusive; ``min_samples`` sets another count); ``route`` defaults to ``"all"`` (every
route together). Windows are seconds from the load's start, ``to`` exclusive, or ``during``
a fault (``faults`` for all of them, a fault kind or a fault id) as the record's fault events
place it.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from harness.durations import parse_duration
from harness.errors import ConfigError
from harness.latency import decode_histogram, merge_histograms, new_histogram, percentiles_ms
from harness.record import Event, RunRecord, read_events

__all__ = [
    "GATES",
    "BurnWindow",
    "ErrorBudgetGate",
    "ErrorRatioGate",
    "Gate",
    "GateContext",
    "GateFactory",
    "LatencyGate",
    "SpecLocation",
    "ThroughputGate",
    "Verdict",
    "Window",
    "default_min_samples",
    "emit_verdicts",
    "evaluate_gates",
    "evaluate_run",
    "gate_from_spec",
    "gates_from_specs",
    "overall_verdict",
    "register_gate",
]

VerdictName = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class Verdict:
    gate: str  # label, e.g. "latency[ner]"
    kind: str  # the gate kind, e.g. "latency"
    verdict: VerdictName
    expected: dict[str, Any]
    observed: dict[str, Any]
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def to_json(self) -> dict[str, Any]:
        return self.event_fields()

    def event_fields(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "gate_kind": self.kind,
            "verdict": self.verdict,
            "expected": self.expected,
            "observed": self.observed,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class Window:
    """Seconds from the load's start: ``[start, end)``; ``end`` None = to the end. With
    ``during`` (``faults``, a fault kind or a fault id) the seconds come from the record's
    fault events when the gate is evaluated (:meth:`GateContext.resolve`), ``extend`` seconds
    past the fault's end (recovery)."""

    start: float = 0.0
    end: float | None = None
    during: str | None = None
    extend: float = 0.0

    def holds(self, second: int) -> bool:
        return second >= self.start and (self.end is None or second < self.end)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"from_s": self.start, "to_s": self.end}
        if self.during is not None:
            out["during"] = self.during
        return out


class GateContext:
    """What gates read: the run's events, with helpers for the load timeline."""

    def __init__(self, events: Iterable[Event], **context: Any) -> None:
        self.events = list(events)
        #: what the run engine adds (faults in force, platform name ...), for gates that need it
        self.context = context

    @classmethod
    def from_record(cls, directory: Path, **context: Any) -> GateContext:
        return cls(read_events(directory), **context)

    def of_kind(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def load_buckets(self, route: str = "all", window: Window | None = None) -> list[Event]:
        found = [
            e
            for e in self.of_kind("load_bucket")
            if e.get("route", "all") == route and (window is None or window.holds(e["second"]))
        ]
        return sorted(found, key=lambda e: int(e["second"]))

    def load_summary(self, route: str = "all") -> Event | None:
        found = [e for e in self.of_kind("load_summary") if e["route"] == route]
        return found[-1] if found else None

    def routes(self) -> list[str]:
        return sorted({str(e["route"]) for e in self.of_kind("load_summary")})

    def load_t0(self) -> float | None:
        """Unix time of the load's second 0 (from ``load_bucket.start``, else its ``t``)."""
        for e in self.of_kind("load_bucket"):
            if e.get("start") is not None:
                return float(e["start"]) - int(e["second"])
            return e.t - int(e["second"]) - 1
        return None

    def fault_spans(self, which: str) -> list[tuple[float, float]]:
        """(start, end) unix times of the faults matching ``which``: ``faults`` (all), a
        fault kind or a fault id. A fault never ended runs to the last event."""
        last = max((e.t for e in self.events), default=0.0)
        ends: dict[str, float] = {}
        for e in self.events:
            if e.kind in ("fault_end", "fault_rollback"):
                ends.setdefault(str(e["fault_id"]), e.t)
        return [
            (e.t, ends.get(str(e["fault_id"]), last))
            for e in self.of_kind("fault_start")
            if which in ("faults", str(e["fault_id"]), str(e.get("fault")))
        ]

    def resolve(self, window: Window | None) -> tuple[Window | None, str | None]:
        """A ``during`` window turned into seconds, or the reason it cannot be."""
        if window is None or window.during is None:
            return window, None
        t0 = self.load_t0()
        if t0 is None:
            return None, "no load timeline to place the fault window on"
        spans = self.fault_spans(window.during)
        if not spans:
            return None, f"no fault {window.during!r} in the run record"
        start = min(a for a, _ in spans) - t0
        end = max(b for _, b in spans) - t0 + window.extend
        return Window(math.floor(start), math.ceil(end), window.during, window.extend), None


@runtime_checkable
class Gate(Protocol):
    """One expectation. ``name`` labels its verdict; ``evaluate`` must not raise for missing
    data (that is an "inconclusive" verdict)."""

    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    def evaluate(self, ctx: GateContext) -> Verdict: ...


# A factory builds a gate from its spec (the mapping without "gate"); ``where`` names the spec
# for errors, e.g. "expect[2]".
GateFactory = Callable[[Mapping[str, Any], "SpecLocation"], "Gate"]


@dataclass(frozen=True)
class SpecLocation:
    """Where a gate spec sits (file, field path), for errors that name it."""

    source: str | None
    field: str

    def error(self, message: str, key: str | None = None) -> ConfigError:
        return ConfigError(
            message, source=self.source, field=f"{self.field}.{key}" if key else self.field
        )

    def check_keys(self, spec: Mapping[str, Any], allowed: set[str]) -> None:
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise self.error(f"unknown key(s) {unknown}; expected {sorted(allowed)}", unknown[0])

    def number(self, spec: Mapping[str, Any], key: str, *, low: float = 0.0) -> float:
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
            raise self.error(f"expected a number >= {low}, got {value!r}", key)
        return float(value)

    def window(self, spec: Mapping[str, Any]) -> Window | None:
        raw = spec.get("window")
        if raw is None:
            return None
        where = f"{self.field}.window"
        if isinstance(raw, Mapping) and "during" in raw:
            if not set(raw) <= {"during", "extend"} or not isinstance(raw["during"], str):
                raise self.error(
                    "expected {during: faults | FAULT_KIND | FAULT_ID, extend: DURATION}",
                    "window",
                )
            extend = parse_duration(
                raw.get("extend", 0), source=self.source, field=f"{where}.extend"
            )
            return Window(during=raw["during"], extend=extend)
        if not isinstance(raw, Mapping) or not set(raw) <= {"from", "to"}:
            raise self.error(
                "expected {from: DURATION, to: DURATION} or {during: faults}", "window"
            )
        start = parse_duration(raw.get("from", 0), source=self.source, field=f"{where}.from")
        end = raw.get("to")
        stop = None if end is None else parse_duration(end, source=self.source, field=where)
        if stop is not None and stop <= start:
            raise self.error("'to' must be after 'from'", "window")
        return Window(start, stop)


def _route(spec: Mapping[str, Any], where: SpecLocation) -> str:
    route = spec.get("route", "all")
    if not isinstance(route, str) or not route:
        raise where.error(f"expected a route name, got {route!r}", "route")
    return route


def _histogram_for(ctx: GateContext, route: str, window: Window | None) -> tuple[Any, str]:
    """The latency histogram of ``route`` over ``window``, and where it came from."""
    if window is None:
        summary = ctx.load_summary(route)
        if summary is not None and summary.get("histogram"):
            return decode_histogram(summary["histogram"]), f"load_summary route={route}"
    buckets = ctx.load_buckets(route, window)
    hists = [b["histogram"] for b in buckets if b.get("histogram")]
    label = f"{len(buckets)} load_bucket events route={route}"
    return (merge_histograms(hists) if hists else new_histogram()), label


# -- built-in gates --

_PCTS = ("p50_ms", "p95_ms", "p99_ms", "max_ms")
# Fewest samples for which a quantile is more than the largest sample: 1 / (1 - q). Below it
# a p99 is the maximum of a handful of requests and says nothing about the tail.
_MIN_SAMPLES = {"p50_ms": 2, "p95_ms": 20, "p99_ms": 100, "max_ms": 1}


def default_min_samples(limits: Iterable[str]) -> int:
    """Samples a latency gate needs before it may pass or fail (``min_samples`` overrides)."""
    return max((_MIN_SAMPLES[k] for k in limits), default=1)


@dataclass(frozen=True)
class LatencyGate:
    route: str
    limits: dict[str, float]  # "p99_ms" -> 250.0
    window: Window | None = None
    min_samples: int | None = None  # None: default_min_samples(limits)
    kind: str = "latency"

    @property
    def name(self) -> str:
        return f"latency[{self.route}]"

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], where: SpecLocation) -> LatencyGate:
        where.check_keys(spec, {"route", "window", "min_samples", *_PCTS})
        limits = {k: where.number(spec, k) for k in _PCTS if k in spec}
        if not limits:
            raise where.error(f"needs at least one of {list(_PCTS)}")
        min_samples = None
        if "min_samples" in spec:
            min_samples = int(where.number(spec, "min_samples", low=1))
            if min_samples != spec["min_samples"]:
                got = spec["min_samples"]
                raise where.error(f"expected a whole count, got {got!r}", "min_samples")
        return cls(_route(spec, where), limits, where.window(spec), min_samples)

    @property
    def needed(self) -> int:
        """Samples this gate needs to judge (below: inconclusive)."""
        if self.min_samples is not None:
            return self.min_samples
        return default_min_samples(self.limits)

    def evaluate(self, ctx: GateContext) -> Verdict:
        window, why = ctx.resolve(self.window)
        if why is not None:
            reason = {"reason": why}
            return Verdict(self.name, self.kind, "inconclusive", self.limits, {}, reason)
        hist, source = _histogram_for(ctx, self.route, window)
        count = int(hist.get_total_count())
        observed: dict[str, Any] = {"samples": count}
        evidence: dict[str, Any] = {"source": source}
        if window is not None:
            evidence["window"] = window.to_json()
        if count < self.needed:
            evidence["reason"] = (
                f"{count} latency samples, need {self.needed} to judge "
                f"{', '.join(self.limits)} (set min_samples to change)"
            )
            return Verdict(self.name, self.kind, "inconclusive", self.limits, observed, evidence)
        pct = percentiles_ms(hist)
        observed.update({k: pct[k] for k in self.limits})
        over = [k for k, limit in self.limits.items() if (pct[k] or 0.0) > limit]
        if over:
            evidence["exceeded"] = over
        verdict: VerdictName = "fail" if over else "pass"
        return Verdict(self.name, self.kind, verdict, self.limits, observed, evidence)


def _counts(
    ctx: GateContext, route: str, window: Window | None, exclude: frozenset[str]
) -> tuple[int, int, dict[str, int], str]:
    """(finished, bad, errors by kind, source) over the window."""
    errors: dict[str, int] = {}
    if window is None and (summary := ctx.load_summary(route)) is not None:
        ok, raw, source = int(summary["completed"]), summary["errors"], f"load_summary {route}"
    else:
        buckets = ctx.load_buckets(route, window)
        ok, raw = sum(int(b["completed"]) for b in buckets), {}
        for b in buckets:
            for k, v in b["errors"].items():
                raw[k] = raw.get(k, 0) + int(v)
        source = f"{len(buckets)} load_bucket events route={route}"
    for k, v in raw.items():
        errors[str(k)] = int(v)
    bad = sum(v for k, v in errors.items() if k not in exclude)
    ignored = sum(v for k, v in errors.items() if k in exclude)
    return ok + bad + ignored, bad, errors, source


@dataclass(frozen=True)
class ErrorRatioGate:
    max_ratio: float
    route: str = "all"
    window: Window | None = None
    exclude: frozenset[str] = frozenset()
    min_requests: int = 1
    kind: str = "error_ratio"

    @property
    def name(self) -> str:
        return f"error_ratio[{self.route}]"

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], where: SpecLocation) -> ErrorRatioGate:
        where.check_keys(spec, {"max", "route", "window", "exclude", "min_requests"})
        if "max" not in spec:
            raise where.error("is required (highest allowed share of failed requests)", "max")
        ratio = where.number(spec, "max")
        if ratio > 1:
            raise where.error(f"a ratio is at most 1, got {ratio}", "max")
        exclude = spec.get("exclude", [])
        if not isinstance(exclude, list) or not all(isinstance(k, str) for k in exclude):
            raise where.error("expected a list of error kinds (http_429, timeout ...)", "exclude")
        minimum = int(where.number(spec, "min_requests", low=1)) if "min_requests" in spec else 1
        return cls(ratio, _route(spec, where), where.window(spec), frozenset(exclude), minimum)

    def evaluate(self, ctx: GateContext) -> Verdict:
        expected: dict[str, Any] = {"max": self.max_ratio}
        window, why = ctx.resolve(self.window)
        if why is not None:
            return Verdict(self.name, self.kind, "inconclusive", expected, {}, {"reason": why})
        finished, bad, errors, source = _counts(ctx, self.route, window, self.exclude)
        evidence: dict[str, Any] = {"source": source, "errors": errors}
        if window is not None:
            evidence["window"] = window.to_json()
        if self.exclude:
            evidence["excluded"] = sorted(self.exclude)
        if finished < self.min_requests:
            evidence["reason"] = f"{finished} finished requests, need {self.min_requests}"
            observed: dict[str, Any] = {"requests": finished}
            return Verdict(self.name, self.kind, "inconclusive", expected, observed, evidence)
        ratio = bad / finished
        observed = {"ratio": round(ratio, 6), "errors": bad, "requests": finished}
        verdict: VerdictName = "pass" if ratio <= self.max_ratio else "fail"
        return Verdict(self.name, self.kind, verdict, expected, observed, evidence)


@dataclass(frozen=True)
class BurnWindow:
    long_s: float
    short_s: float
    burn: float


_DEFAULT_BURN = (BurnWindow(60, 5, 14.4), BurnWindow(300, 30, 6.0))


@dataclass(frozen=True)
class ErrorBudgetGate:
    """Multi-window burn rates (the Google SRE workbook's alerting rule, on the load timeline).

    Burn rate over a window = error ratio in it / (1 - slo). The gate fails when, at any second,
    the long AND the short window of a pair both burn faster than the pair's ``burn`` (the short
    window confirms the burn is still going on), or when more than ``max_spent`` of the run's
    budget was used. A long window is only judged once it is full, or once at the end of a run
    shorter than it (then over the whole run)."""

    slo: float
    windows: tuple[BurnWindow, ...] = _DEFAULT_BURN
    route: str = "all"
    max_spent: float | None = None
    exclude: frozenset[str] = frozenset()
    kind: str = "error_budget"

    @property
    def name(self) -> str:
        return f"error_budget[{self.route}]"

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], where: SpecLocation) -> ErrorBudgetGate:
        where.check_keys(spec, {"slo", "windows", "route", "max_spent", "exclude"})
        if "slo" not in spec:
            raise where.error("is required (target success ratio, e.g. 0.99)", "slo")
        slo = where.number(spec, "slo")
        if not 0 < slo < 1:
            raise where.error(f"must be between 0 and 1 (exclusive), got {slo}", "slo")
        windows: tuple[BurnWindow, ...] = _DEFAULT_BURN
        if "windows" in spec:
            raw = spec["windows"]
            if not isinstance(raw, list) or not raw:
                raise where.error("expected a list of {long, short, burn}", "windows")
            parsed = []
            for i, w in enumerate(raw):
                sub = SpecLocation(where.source, f"{where.field}.windows[{i}]")
                if not isinstance(w, Mapping):
                    raise sub.error("expected {long: DURATION, short: DURATION, burn: N}")
                sub.check_keys(w, {"long", "short", "burn"})
                for key in ("long", "short", "burn"):
                    if key not in w:
                        raise sub.error("is required", key)
                long_s = parse_duration(w["long"], source=where.source, field=f"{sub.field}.long")
                short_s = parse_duration(
                    w["short"], source=where.source, field=f"{sub.field}.short"
                )
                if not 0 < short_s <= long_s:
                    raise sub.error("needs 0 < short <= long", "short")
                parsed.append(BurnWindow(long_s, short_s, sub.number(w, "burn")))
            windows = tuple(parsed)
        spent = where.number(spec, "max_spent") if "max_spent" in spec else None
        exclude = spec.get("exclude", [])
        if not isinstance(exclude, list) or not all(isinstance(k, str) for k in exclude):
            raise where.error("expected a list of error kinds (http_429, timeout ...)", "exclude")
        return cls(slo, windows, _route(spec, where), spent, frozenset(exclude))

    def evaluate(self, ctx: GateContext) -> Verdict:
        buckets = ctx.load_buckets(self.route)
        budget = 1 - self.slo
        expected: dict[str, Any] = {
            "slo": self.slo,
            "windows": [
                {"long_s": w.long_s, "short_s": w.short_s, "max_burn": w.burn} for w in self.windows
            ],
        }
        if self.max_spent is not None:
            expected["max_spent"] = self.max_spent
        # Per-second finished and bad counts, indexed from the first second.
        total = [0] * (max((int(b["second"]) for b in buckets), default=-1) + 1)
        bad = list(total)
        for b in buckets:
            s = int(b["second"])
            errs = {str(k): int(v) for k, v in b["errors"].items()}
            bad[s] += sum(v for k, v in errs.items() if k not in self.exclude)
            total[s] += int(b["completed"]) + sum(errs.values())
        evidence: dict[str, Any] = {"source": f"{len(buckets)} load_bucket events"}
        if sum(total) == 0:
            evidence["reason"] = "no finished requests in the load timeline"
            return Verdict(self.name, self.kind, "inconclusive", expected, {}, evidence)
        prefix_t, prefix_b = _prefix(total), _prefix(bad)
        n = len(total)
        worst: list[dict[str, Any]] = []
        violations: list[dict[str, Any]] = []
        for w in self.windows:
            long_n = min(max(round(w.long_s), 1), n)
            short_n = min(max(round(w.short_s), 1), long_n)
            peak = 0.0
            first: int | None = None
            for end in range(long_n, n + 1):
                lb = _burn(prefix_t, prefix_b, end - long_n, end, budget)
                sb = _burn(prefix_t, prefix_b, end - short_n, end, budget)
                peak = max(peak, min(lb, sb))
                if first is None and lb > w.burn and sb > w.burn:
                    first = end
            worst.append({"long_s": w.long_s, "short_s": w.short_s, "max_burn": round(peak, 3)})
            if first is not None:
                violations.append(
                    {"long_s": w.long_s, "short_s": w.short_s, "first_at_second": first - 1}
                )
        spent = sum(bad) / (sum(total) * budget)
        observed = {
            "budget_spent": round(spent, 4),
            "burn": worst,
            "errors": sum(bad),
            "requests": sum(total),
        }
        failed = bool(violations) or (self.max_spent is not None and spent > self.max_spent)
        if violations:
            evidence["violations"] = violations
        return Verdict(
            self.name, self.kind, "fail" if failed else "pass", expected, observed, evidence
        )


def _prefix(values: Sequence[int]) -> list[int]:
    out = [0]
    for v in values:
        out.append(out[-1] + v)
    return out


def _burn(pt: list[int], pb: list[int], start: int, end: int, budget: float) -> float:
    finished = pt[end] - pt[start]
    return (pb[end] - pb[start]) / finished / budget if finished else 0.0


@dataclass(frozen=True)
class ThroughputGate:
    min_rps: float
    route: str = "all"
    kind: str = "throughput"

    @property
    def name(self) -> str:
        return f"throughput[{self.route}]"

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], where: SpecLocation) -> ThroughputGate:
        where.check_keys(spec, {"min_rps", "route"})
        if "min_rps" not in spec:
            raise where.error("is required (successful responses per second)", "min_rps")
        return cls(where.number(spec, "min_rps"), _route(spec, where))

    def evaluate(self, ctx: GateContext) -> Verdict:
        summary = ctx.load_summary(self.route)
        expected = {"min_rps": self.min_rps}
        if summary is None or summary.get("throughput_rps") is None:
            evidence = {"reason": f"no load_summary for route {self.route}"}
            return Verdict(self.name, self.kind, "inconclusive", expected, {}, evidence)
        rps = float(summary["throughput_rps"])
        verdict: VerdictName = "pass" if rps >= self.min_rps else "fail"
        observed = {"throughput_rps": rps, "completed": summary["completed"]}
        evidence = {"source": f"load_summary route={self.route}"}
        return Verdict(self.name, self.kind, verdict, expected, observed, evidence)


# kind -> factory, or "module:attribute" of a factory, imported on first use. Others add
# their gate kinds here (one line) or call register_gate at import time.
GATES: dict[str, GateFactory | str] = {
    "latency": LatencyGate.from_spec,
    "error_ratio": ErrorRatioGate.from_spec,
    "error_budget": ErrorBudgetGate.from_spec,
    "throughput": ThroughputGate.from_spec,
    # what the platform did (observer events): harness.gates_platform
    "replicas": "harness.gates_platform:replicas_gate",
    "alert": "harness.gates_platform:alert_gate",
    "no_unexpected_alerts": "harness.gates_platform:no_unexpected_alerts_gate",
    "measurement": "harness.gates_platform:measurement_gate",
    "monitoring_coverage": "harness.gates_platform:monitoring_coverage_gate",
}


def register_gate(kind: str, factory: GateFactory | str, *, replace: bool = False) -> None:
    """Add a gate kind. ``factory(spec, where)`` returns a :class:`Gate`; ``where.error(msg,
    key)`` builds a ConfigError naming the scenario file and field."""
    if kind in GATES and not replace and GATES[kind] != factory:
        raise ValueError(f"gate kind {kind!r} is already registered")
    GATES[kind] = factory


def _factory(kind: str) -> GateFactory:
    entry = GATES[kind]
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        resolved: GateFactory = getattr(importlib.import_module(module), attr)
        GATES[kind] = resolved
        return resolved
    return entry


def gate_from_spec(
    spec: Mapping[str, Any], *, source: str | None = None, field: str = "expect[0]"
) -> Gate:
    """One gate from its scenario mapping; :class:`ConfigError` names the file and field."""
    where = SpecLocation(source, field)
    if not isinstance(spec, Mapping):
        raise where.error(f"expected a mapping with a 'gate' key, got {spec!r}")
    kind = spec.get("gate")
    if kind not in GATES:
        raise where.error(f"unknown gate {kind!r}; known: {sorted(GATES)}", "gate")
    rest = {k: v for k, v in spec.items() if k != "gate"}
    gate = _factory(str(kind))(rest, where)
    if not isinstance(gate, Gate):
        raise TypeError(f"gate factory for {kind!r} returned {gate!r}, not a Gate")
    return gate


def gates_from_specs(specs: Any, *, source: str | None = None, key: str = "expect") -> list[Gate]:
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise ConfigError("expected a list of gates", source=source, field=key)
    return [gate_from_spec(s, source=source, field=f"{key}[{i}]") for i, s in enumerate(specs)]


def evaluate_gates(gates: Iterable[Gate], ctx: GateContext) -> list[Verdict]:
    """Every gate's verdict. A gate that raises gets "inconclusive" with the error as evidence:
    a broken check must never read as a pass."""
    out = []
    for gate in gates:
        try:
            out.append(gate.evaluate(ctx))
        except Exception as exc:
            evidence = {"error": f"{type(exc).__name__}: {exc}"}
            out.append(Verdict(gate.name, gate.kind, "inconclusive", {}, {}, evidence))
    return out


def evaluate_run(
    expect: Any, run_dir: Path, *, source: str | None = None, **context: Any
) -> list[Verdict]:
    """The verdicts of a scenario's ``expect:`` list over the run record in ``run_dir``."""
    gates = gates_from_specs(expect, source=source)
    return evaluate_gates(gates, GateContext.from_record(Path(run_dir), **context))


def emit_verdicts(record: RunRecord, verdicts: Iterable[Verdict]) -> None:
    for v in verdicts:
        record.emit("gate", **v.event_fields())


def overall_verdict(verdicts: Sequence[Verdict]) -> VerdictName:
    """fail if any failed; pass only if there were verdicts and all passed; else inconclusive."""
    if any(v.verdict == "fail" for v in verdicts):
        return "fail"
    if verdicts and all(v.verdict == "pass" for v in verdicts):
        return "pass"
    return "inconclusive"
