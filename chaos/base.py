"""The one protocol every fault implements, and the plan it works from.

Lifecycle (as chaostoolkit runs an experiment)::

    plan = fault.validate(entry, platform)    # resolve targets, check params; no side effects
    injection = fault.inject(plan, platform)  # the ledger has recorded ``plan`` before this
    fault.probe(plan, platform, injection)    # the fault's effect, observed live (its proof)
    fault.rollback(plan, platform, injection) # idempotent; runs on success, failure, signals

Every fault's effect is proved from the system, never from what the injector returned: a
platform primitive that reports success proves nothing about what clients or the platform saw.
``probe`` watches the platform (node cordoned and replicas moved, replica replaced, dependency
metric down, ...); a fault whose effect shows only in the responses (mesh delay and abort)
implements :class:`RecordProof` too and is proved after the run from the run record's load
samples. A proof is ``observed``, ``not_observed`` (the verdict fails) or ``unobservable``
(nothing could tell: the verdict is inconclusive).

Each kind lives in its own module under ``chaos.faults`` and imports only this module and the
harness core, so faults stay independent of each other (an import-linter contract checks it).
"""

from __future__ import annotations

import fnmatch
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import httpx

from chaos.settings import chaos_settings
from harness.errors import ConfigError, FaultError, HarnessError, Unsupported
from harness.gates import GateContext, Window
from harness.platform.base import Injection, Node, Platform
from harness.scenario import FaultEntry, parse_duration

__all__ = [
    "Fault",
    "FaultPlan",
    "MeshFault",
    "ProbeResult",
    "ProofStatus",
    "RecordProof",
    "finished",
    "holding",
    "match_nodes",
    "param_duration",
    "prove_moved",
    "prove_replaced",
    "revert_injection",
    "watch_prometheus",
]


@dataclass(frozen=True)
class FaultPlan:
    """A validated fault: what will be done to what. ``describe`` is the dry-run line."""

    entry: FaultEntry
    kind: str
    targets: list[str]
    params: dict[str, Any]
    describe: str
    # what the blast-radius guard needs: service -> (replicas affected, replicas in total)
    affects: dict[str, tuple[int, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at_s": self.entry.at_s,
            "duration_s": self.entry.duration_s,
            "targets": self.targets,
            "params": self.params,
            "describe": self.describe,
            "allow_all": self.entry.allow_all,
        }


ProofStatus = Literal["observed", "not_observed", "unobservable"]


@dataclass(frozen=True)
class ProbeResult:
    """The fault's effect as the system shows it: ``ok`` it was seen; not ``ok`` and
    ``observable`` it was looked for and is absent; not ``observable``: nothing could tell."""

    ok: bool
    detail: str
    # what the fault measured (name, value, unit, labels): ``measurement`` events for gates
    measurements: list[dict[str, Any]] = field(default_factory=list)
    observable: bool = True

    @property
    def status(self) -> ProofStatus:
        if self.ok:
            return "observed"
        return "not_observed" if self.observable else "unobservable"

    @classmethod
    def unobservable(cls, detail: str) -> ProbeResult:
        return cls(False, detail, observable=False)


@runtime_checkable
class Fault(Protocol):
    kind: ClassVar[str]
    reverts: ClassVar[bool]
    """False for faults that the platform heals by itself (kill): nothing to roll back."""

    def validate(self, entry: FaultEntry, platform: Platform | None) -> FaultPlan:
        """Resolve targets and check parameters. ``platform`` None: a dry run with no stack;
        resolve what can be resolved statically. Raises ConfigError naming the field."""
        ...

    def inject(self, plan: FaultPlan, platform: Platform) -> list[Injection]:
        """Start the fault. Returns what to revert (empty for self-healing faults)."""
        ...

    def probe(
        self, plan: FaultPlan, platform: Platform, injections: list[Injection]
    ) -> ProbeResult:
        """Check the fault took effect (readiness dropped, node unschedulable...)."""
        ...

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        """Take the fault back. Idempotent."""
        ...


@runtime_checkable
class RecordProof(Protocol):
    """A fault proved after the run from the run record (what clients saw), over ``window``
    (seconds of the load timeline the fault was in force)."""

    def prove(self, plan: FaultPlan, window: Window, ctx: GateContext) -> ProbeResult: ...


def param_duration(entry: FaultEntry, key: str, default: float | None = None) -> float:
    if key not in entry.params:
        if default is None:
            raise ConfigError(f"{entry.kind} needs {key!r}", field=f"faults[{entry.index}].{key}")
        return default
    try:
        return parse_duration(entry.params[key], what=key)
    except ValueError as exc:
        raise ConfigError(str(exc), field=f"faults[{entry.index}].{key}") from exc


def holding(entry: FaultEntry, platform: Platform, nodes: list[Node]) -> list[Node]:
    """``nodes`` narrowed to those running a ready replica of ``target.holding`` (a service):
    how a scenario states that the node it breaks holds what its gates judge."""
    service = entry.target.get("holding")
    if service is None:
        return nodes
    on = {r.node for r in platform.replicas(str(service)) if r.ready}
    return [n for n in nodes if n.name in on]


def match_nodes(entry: FaultEntry, nodes: list[Node]) -> list[Node]:
    """Nodes named by ``target.node`` (a name or glob) or ``target.node_label``
    (``key=value``, or a bare value that any label may carry, e.g. ``spot``)."""
    target = entry.target
    if "node" in target:
        return [n for n in nodes if fnmatch.fnmatchcase(n.name, str(target["node"]))]
    selector = str(target["node_label"])
    if "=" in selector:
        key, value = selector.split("=", 1)
        return [n for n in nodes if n.labels.get(key) == value]
    return [n for n in nodes if selector in n.labels.values()]


def revert_injection(platform: Platform, injections: list[Injection]) -> None:
    """Revert each injection; try them all, then raise the first failure."""
    errors: list[str] = []
    for inj in injections:
        try:
            platform.revert(inj)
        except Exception as exc:  # keep reverting the others before reporting
            errors.append(f"{inj.id}: {type(exc).__name__}: {exc}")
    if errors:
        raise FaultError("rollback failed: " + "; ".join(errors))


class MeshFault(ABC):
    """What ``mesh_delay`` and ``mesh_abort`` share: a route's mesh fault for a window.

    A subclass names its ``kind`` and the fault's own parameter (``effect``): the keyword it
    passes to :meth:`Platform.mesh_fault` (``delay_ms`` / ``abort_status``) and the plan's
    description.
    """

    kind: ClassVar[str]
    reverts: ClassVar[bool] = True

    @abstractmethod
    def effect(self, entry: FaultEntry, route: str, percent: float) -> tuple[dict[str, Any], str]:
        """The keyword for ``mesh_fault`` with its value, and the plan's description."""

    def validate(self, entry: FaultEntry, platform: Platform | None) -> FaultPlan:
        route = str(entry.target["route"])
        percent = float(entry.params.get("percent", 100.0))
        params, describe = self.effect(entry, route, percent)
        if platform is not None and route not in platform.endpoints():
            raise ConfigError(
                f"no route {route!r} (have {sorted(platform.endpoints())})",
                field=f"faults[{entry.index}].target.route",
            )
        return FaultPlan(entry, self.kind, [route], {**params, "percent": percent}, describe)

    def inject(self, plan: FaultPlan, platform: Platform) -> list[Injection]:
        effect = {k: v for k, v in plan.params.items() if k != "percent"}
        return [
            platform.mesh_fault(
                plan.targets[0],
                percent=float(plan.params["percent"]),
                duration_s=plan.entry.duration_s,
                **effect,
            )
        ]

    def probe(
        self, plan: FaultPlan, platform: Platform, injections: list[Injection]
    ) -> ProbeResult:
        """Nothing live: the effect is in the responses, proved after the run (:meth:`prove`)."""
        return ProbeResult.unobservable(
            f"{self.kind.replace('_', ' ')} on {plan.targets[0]}: judged from the responses "
            "after the run"
        )

    @abstractmethod
    def prove(self, plan: FaultPlan, window: Window, ctx: GateContext) -> ProbeResult:
        """The effect in the load samples of the route over ``window`` (:class:`RecordProof`)."""

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        revert_injection(platform, injections)


def finished(bucket: Any) -> int:
    """Requests that finished in a bucket: answered or failed, not those never sent."""
    errors = {k: int(v) for k, v in dict(bucket.get("errors") or {}).items()}
    errors.pop("generator_overload", None)
    return int(bucket.get("completed", 0)) + sum(errors.values())


def prove_replaced(
    platform: Platform, service: str, before: list[str], count: int, started: float
) -> ProbeResult:
    """Watch ``service`` until ``count`` replicas of ``before`` (ready names before the fault)
    left and a new replica brought the ready count back, or the proof timeout passes."""
    settings = chaos_settings()
    deadline = started + settings.proof_timeout_s
    gone: set[str] = set()
    while True:
        ready = {r.name for r in platform.replicas(service) if r.ready}
        gone |= set(before) - ready
        new = sorted(ready - set(before))
        if len(gone) >= count and new and len(ready) >= len(before):
            took = time.time() - started
            return ProbeResult(
                True,
                f"{sorted(gone)} left, replaced by {new} within {took:.1f}s",
                [{"name": "replaced_s", "value": round(took, 3), "unit": "s", "service": service}],
            )
        if time.time() >= deadline:
            break
        time.sleep(settings.proof_poll_s)
    what = (
        f"only {sorted(gone)} of {sorted(before)} left"
        if len(gone) < count
        else f"{len(ready)} ready ({sorted(ready)}), {len(before)} before, new {new}"
    )
    return ProbeResult(False, f"{service} not replaced after {settings.proof_timeout_s:g}s: {what}")


def prove_moved(
    platform: Platform, nodes: list[str], affects: dict[str, tuple[int, int]], deadline: float
) -> ProbeResult:
    """Watch until every one of ``nodes`` is cordoned (or gone) and every service that had
    ready replicas on them (``affects``: service -> (on them, ready in all)) is served again by
    as many ready replicas on other nodes, or ``deadline`` (unix seconds) passes."""
    poll = chaos_settings().proof_poll_s
    started = time.time()
    where = ", ".join(nodes)
    while True:
        states = {n.name: n.schedulable for n in platform.nodes()}
        open_nodes = [n for n in nodes if states.get(n) is True]
        short: dict[str, str] = {}
        for service, (_, total) in affects.items():
            ready = [r for r in platform.replicas(service) if r.ready]
            elsewhere = [r.name for r in ready if r.node not in nodes]
            stayed = [r.name for r in ready if r.node in nodes]
            if len(elsewhere) < total or stayed:
                short[service] = f"{len(elsewhere)}/{total} ready elsewhere, on {where}: {stayed}"
        if not open_nodes and not short:
            took = time.time() - started
            moved = ", ".join(f"{s} ({n} replica(s))" for s, (n, _) in affects.items())
            return ProbeResult(
                True,
                f"{where} cordoned; {moved or 'no replica'} moved off within {took:.1f}s",
                [{"name": "moved_s", "value": round(took, 3), "unit": "s", "node": where}],
            )
        if time.time() >= deadline:
            break
        time.sleep(poll)
    problems = [f"{n} is still schedulable" for n in open_nodes] + [
        f"{s}: {why}" for s, why in short.items()
    ]
    return ProbeResult(False, "; ".join(problems) + f" after {time.time() - started:.1f}s")


def watch_prometheus(
    platform: Platform, query: str, holds: Callable[[float], bool], deadline: float
) -> tuple[bool | None, float | None]:
    """Poll ``query`` until ``holds(value)`` or ``deadline``: (True, value) when it held,
    (False, last value) when it never did, (None, None) when Prometheus is not there or the
    query never returned a series (nothing could tell)."""
    from harness.probes import prometheus_value

    poll = chaos_settings().proof_poll_s
    last: float | None = None
    while True:
        try:
            value = prometheus_value(platform, query, timeout_s=3.0)
        except Unsupported:
            return None, None
        except (HarnessError, OSError, ValueError, httpx.HTTPError):
            value = None
        if value is not None:
            last = value
            if holds(value):
                return True, value
        if time.time() >= deadline:
            return (None, None) if last is None else (False, last)
        time.sleep(poll)
