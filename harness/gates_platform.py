"""Gates over what the platform did (the observers' events), registered in ``harness.gates``:

    - {gate: replicas, service: ner, at_least: 2, within: 90s}         # after the first fault
    - {gate: replicas, service: ner, at_most: 1, after: 40s, within: 60s, count: desired}
    - {gate: alert, name: ModelServeHighErrorRate, fires_within: 30s, resolves: true}
    - {gate: alert, name: NoReadyReplicas, delivered: true}   # reached a receiver, not only fired
    - {gate: no_unexpected_alerts, allow: [ModelServeHighErrorRate]}
    - {gate: measurement, name: cold_start_s, max: 15}                 # min / max, stat
    - {gate: monitoring_coverage}   # every rule and panel query had data (observe.monitoring)

Times: ``after`` is seconds from the load's start (default: the first fault's start, or the
load's start when there is no fault); ``within`` counts from there (default: to the run's end).
No data is "inconclusive", never "pass": no ``replicas`` events, an alert observer that was
off, a measurement never taken.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harness.durations import parse_duration
from harness.gates import GateContext, SpecLocation, Verdict, VerdictName
from harness.record import Event

__all__ = [
    "AlertGate",
    "MeasurementGate",
    "MonitoringCoverageGate",
    "NoUnexpectedAlertsGate",
    "ReplicasGate",
    "alert_gate",
    "anchor",
    "measurement_gate",
    "monitoring_coverage_gate",
    "no_unexpected_alerts_gate",
    "replicas_gate",
]


def anchor(ctx: GateContext) -> float:
    """Unix time of the load's start (what ``after`` counts from)."""
    starts = [e.t - float(e.get("at_s", 0.0)) for e in ctx.of_kind("fault_start")]
    starts += [e.t - int(e["second"]) - 1 for e in ctx.of_kind("load_bucket")]
    if starts:
        return min(starts)
    runs = ctx.of_kind("run_start")
    return runs[0].t if runs else 0.0


def _start(ctx: GateContext, after: float | None) -> float:
    base = anchor(ctx)
    if after is not None:
        return base + after
    faults = ctx.of_kind("fault_start")
    return min(e.t for e in faults) if faults else base


def _end(ctx: GateContext) -> float:
    return max((e.t for e in ctx.events), default=0.0)


def _duration(spec: Mapping[str, Any], key: str, where: SpecLocation) -> float | None:
    if key not in spec:
        return None
    return parse_duration(spec[key], source=where.source, field=f"{where.field}.{key}")


@dataclass(frozen=True)
class ReplicasGate:
    service: str
    bound: str  # "at_least" | "at_most"
    value: int
    count: str  # "ready" | "desired"
    after: float | None
    within: float | None

    kind = "replicas"

    @property
    def name(self) -> str:
        return f"replicas[{self.service} {self.bound} {self.value}]"

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], where: SpecLocation) -> ReplicasGate:
        where.check_keys(spec, {"service", "at_least", "at_most", "count", "after", "within"})
        if "service" not in spec:
            raise where.error("needs 'service'", "service")
        bounds = [k for k in ("at_least", "at_most") if k in spec]
        if len(bounds) != 1:
            raise where.error("needs exactly one of 'at_least' or 'at_most'")
        value = int(where.number(spec, bounds[0]))
        count = str(spec.get("count", "ready" if bounds[0] == "at_least" else "desired"))
        if count not in ("ready", "desired"):
            raise where.error(f"count is 'ready' or 'desired', not {count!r}", "count")
        return cls(
            str(spec["service"]),
            bounds[0],
            value,
            count,
            _duration(spec, "after", where),
            _duration(spec, "within", where),
        )

    def _holds(self, n: int) -> bool:
        return n >= self.value if self.bound == "at_least" else n <= self.value

    def evaluate(self, ctx: GateContext) -> Verdict:
        expected = {
            self.bound: self.value,
            "count": self.count,
            "after_s": self.after,
            "within_s": self.within,
        }
        timeline = [e for e in ctx.of_kind("replicas") if e["service"] == self.service]
        if not timeline:
            return Verdict(self.name, self.kind, "inconclusive", expected, {}, {"why": "no data"})
        start = _start(ctx, self.after)
        deadline = start + self.within if self.within is not None else _end(ctx)
        before = [e for e in timeline if e.t <= start]
        window = [e for e in timeline if start < e.t <= deadline]
        points: list[Event] = before[-1:] + window
        reached: float | None = None
        for e in points:
            if self._holds(int(e[self.count])):
                if reached is None:
                    reached = max(e.t, start)
            else:
                reached = None
        seen = [int(e[self.count]) for e in points]
        observed = {
            "reached_after_s": None if reached is None else round(reached - start, 3),
            "min": min(seen) if seen else None,
            "max": max(seen) if seen else None,
            "last": seen[-1] if seen else None,
        }
        evidence = {"timeline": [(round(e.t - start, 3), int(e[self.count])) for e in points]}
        if not points:
            return Verdict(self.name, self.kind, "inconclusive", expected, observed, evidence)
        verdict: VerdictName = "pass" if reached is not None else "fail"
        return Verdict(self.name, self.kind, verdict, expected, observed, evidence)


def _alert_observer_off(ctx: GateContext) -> str | None:
    for note in ctx.of_kind("note"):
        msg = str(note.get("message", ""))
        if msg.startswith("observer alerts"):
            return msg
    return None


@dataclass(frozen=True)
class AlertGate:
    alert: str
    fires_within: float | None
    resolves: bool
    resolves_within: float | None
    after: float | None
    delivered: bool = False
    """Also require that Alertmanager delivered it (an ``alert`` event from the receiver,
    ``source: alertmanager``): an alert that fires but pages no one fails."""

    kind = "alert"

    @property
    def name(self) -> str:
        return f"alert[{self.alert}]"

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], where: SpecLocation) -> AlertGate:
        where.check_keys(
            spec, {"name", "fires_within", "resolves", "resolves_within", "after", "delivered"}
        )
        if "name" not in spec:
            raise where.error("needs 'name' (the alert)", "name")
        resolves = spec.get("resolves", False)
        if not isinstance(resolves, bool):
            raise where.error("expected true or false", "resolves")
        delivered = spec.get("delivered", False)
        if not isinstance(delivered, bool):
            raise where.error("expected true or false", "delivered")
        return cls(
            str(spec["name"]),
            _duration(spec, "fires_within", where),
            resolves or "resolves_within" in spec,
            _duration(spec, "resolves_within", where),
            _duration(spec, "after", where),
            delivered,
        )

    def evaluate(self, ctx: GateContext) -> Verdict:
        expected: dict[str, Any] = {
            "fires_within_s": self.fires_within,
            "resolves": self.resolves,
            "resolves_within_s": self.resolves_within,
        }
        if self.delivered:
            expected["delivered"] = True
        start = _start(ctx, self.after)
        mine = [e for e in ctx.of_kind("alert") if e["name"] == self.alert and e.t >= start]
        off = _alert_observer_off(ctx)
        if off and not mine:
            return Verdict(self.name, self.kind, "inconclusive", expected, {}, {"why": off})
        fired = next((e for e in mine if e["state"] == "firing"), None)
        if fired is None:
            return Verdict(self.name, self.kind, "fail", expected, {"fired": False}, {"states": []})
        fired_after = round(fired.t - start, 3)
        resolved = next((e for e in mine if e["state"] == "resolved" and e.t >= fired.t), None)
        resolved_after = None if resolved is None else round(resolved.t - fired.t, 3)
        observed: dict[str, Any] = {
            "fired": True,
            "fired_after_s": fired_after,
            "resolved": resolved is not None,
            "resolved_after_s": resolved_after,
        }
        delivery = next(
            (e for e in mine if e["state"] == "firing" and e.get("source") == "alertmanager"),
            None,
        )
        if self.delivered:
            observed["delivered"] = delivery is not None
            observed["delivered_after_s"] = (
                None if delivery is None else round(delivery.t - start, 3)
            )
        evidence = {"states": [(round(e.t - start, 3), e["state"], e.get("source")) for e in mine]}
        ok = self.fires_within is None or fired_after <= self.fires_within
        if self.resolves:
            ok = ok and resolved_after is not None
            if self.resolves_within is not None and resolved_after is not None:
                ok = ok and resolved_after <= self.resolves_within
        if self.delivered:
            ok = ok and delivery is not None
        return Verdict(self.name, self.kind, "pass" if ok else "fail", expected, observed, evidence)


@dataclass(frozen=True)
class NoUnexpectedAlertsGate:
    allow: tuple[str, ...]

    kind = "no_unexpected_alerts"
    name = "no_unexpected_alerts"

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], where: SpecLocation) -> NoUnexpectedAlertsGate:
        where.check_keys(spec, {"allow"})
        allow = spec.get("allow", [])
        if not isinstance(allow, list):
            raise where.error("expected a list of alert names", "allow")
        return cls(tuple(str(a) for a in allow))

    def evaluate(self, ctx: GateContext) -> Verdict:
        expected = {"allow": list(self.allow)}
        off = _alert_observer_off(ctx)
        if off:
            return Verdict(self.name, self.kind, "inconclusive", expected, {}, {"why": off})
        runs = ctx.of_kind("run_start")
        began = runs[0].t if runs else float("-inf")
        firing = [e for e in ctx.of_kind("alert") if e["state"] == "firing"]
        # Alerts already active before the run began are the platform's state before the
        # experiment (evidence), not something the run caused.
        before = sorted({str(e["name"]) for e in firing if _unix(e.get("starts_at")) < began})
        during = {str(e["name"]) for e in firing if _unix(e.get("starts_at")) >= began}
        unexpected = sorted(during - set(self.allow))
        verdict: VerdictName = "fail" if unexpected else "pass"
        evidence = {"active_before_the_run": before}
        return Verdict(
            self.name, self.kind, verdict, expected, {"unexpected": unexpected}, evidence
        )


def _unix(value: Any) -> float:
    """Unix seconds from an alert's ``starts_at`` (RFC 3339, nanoseconds allowed, or a
    number); +inf when absent, so an alert of unknown start counts as the run's."""
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str) or not value:
        return float("inf")
    text = value.replace("Z", "+00:00")
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if match:
        frac = (match.group(2) or "")[:7]  # microseconds at most
        text = match.group(1) + frac + match.group(3)
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return float("inf")


@dataclass(frozen=True)
class MeasurementGate:
    measurement: str
    low: float | None
    high: float | None
    stat: str

    kind = "measurement"

    @property
    def name(self) -> str:
        return f"measurement[{self.measurement}]"

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], where: SpecLocation) -> MeasurementGate:
        where.check_keys(spec, {"name", "min", "max", "stat"})
        if "name" not in spec:
            raise where.error("needs 'name' (of the measurement)", "name")
        if "min" not in spec and "max" not in spec:
            raise where.error("needs 'min' or 'max'")
        stat = str(spec.get("stat", "max" if "max" in spec else "min"))
        if stat not in ("min", "max", "last"):
            raise where.error("stat is min, max or last", "stat")
        low = float(spec["min"]) if "min" in spec else None
        high = float(spec["max"]) if "max" in spec else None
        return cls(str(spec["name"]), low, high, stat)

    def evaluate(self, ctx: GateContext) -> Verdict:
        expected = {"min": self.low, "max": self.high, "stat": self.stat}
        values = [
            float(e["value"]) for e in ctx.of_kind("measurement") if e["name"] == self.measurement
        ]
        if not values:
            return Verdict(self.name, self.kind, "inconclusive", expected, {}, {"why": "no data"})
        value = values[-1] if self.stat == "last" else (min if self.stat == "min" else max)(values)
        ok = (self.low is None or value >= self.low) and (self.high is None or value <= self.high)
        observed = {"value": value, "samples": len(values)}
        return Verdict(self.name, self.kind, "pass" if ok else "fail", expected, observed)


@dataclass(frozen=True)
class MonitoringCoverageGate:
    """Every query of every alert rule, recording rule and dashboard panel returned data at
    least once during the run (``promql`` events of :class:`harness.observers.MonitoringObserver`).
    Recording rules over Kubernetes-only sources (the platform-bridge group) are required on
    kind and EKS and listed as not applicable on the local platform."""

    kind = "monitoring_coverage"
    name = "monitoring_coverage"

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], where: SpecLocation) -> MonitoringCoverageGate:
        where.check_keys(spec, set())
        return cls()

    def evaluate(self, ctx: GateContext) -> Verdict:
        expected = {"every_query_returns_data": True}
        plans = ctx.of_kind("promql_plan")
        if not plans:
            why = "no promql_plan event: set observe.monitoring: true"
            return Verdict(self.name, self.kind, "inconclusive", expected, {}, {"why": why})
        runs = ctx.of_kind("run_start")
        platform = str(runs[0].get("platform", "")) if runs else ""
        answered = {(str(e["key"]), str(e["query"])): e for e in ctx.of_kind("promql")}
        missing: list[str] = []
        errors: list[str] = []
        not_applicable: list[str] = []
        with_data = 0
        exprs = list(plans[-1]["expressions"])
        for x in exprs:
            key = str(x["key"])
            absent = []
            for query in x["queries"]:
                got = answered.get((key, str(query)))
                if got is None:
                    absent.append(str(query))
                elif not got.get("ok"):
                    errors.append(f"{key}: {got.get('error')}")
            if not absent:
                with_data += 1
            elif x.get("kubernetes_only") and platform == "local":
                not_applicable.append(key)
            else:
                missing += [f"{key}: {q}" if q != x["expr"] else key for q in absent]
        observed = {
            "expressions": len(exprs),
            "with_data": with_data,
            "missing": missing,
            "errors": errors,
        }
        evidence = {
            "kubernetes_only_not_applicable_here": not_applicable,
            "why": "bridge rules read kube-state-metrics and exporters; promtool tests them",
        }
        verdict: VerdictName = "fail" if missing or errors else "pass"
        return Verdict(self.name, self.kind, verdict, expected, observed, evidence)


# Factories by name, for the lazy "module:factory" entries of harness.gates.GATES.
replicas_gate = ReplicasGate.from_spec
alert_gate = AlertGate.from_spec
no_unexpected_alerts_gate = NoUnexpectedAlertsGate.from_spec
measurement_gate = MeasurementGate.from_spec
monitoring_coverage_gate = MonitoringCoverageGate.from_spec
