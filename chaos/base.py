"""The one protocol every fault implements, and the plan it works from.

Lifecycle (as chaostoolkit runs an experiment)::

    plan = fault.validate(entry, platform)    # resolve targets, check params; no side effects
    injection = fault.inject(plan, platform)  # the ledger has recorded ``plan`` before this
    fault.probe(plan, platform, injection)    # is the fault in force? (evidence for the record)
    fault.rollback(plan, platform, injection) # idempotent; runs on success, failure, signals

Each kind lives in its own module under ``chaos.faults`` and imports only this module and the
harness core, so faults stay independent of each other (an import-linter contract checks it).
"""

from __future__ import annotations

import fnmatch
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from harness.errors import ConfigError, FaultError
from harness.platform.base import Injection, Node, Platform
from harness.scenario import FaultEntry, parse_duration

__all__ = [
    "Fault",
    "FaultPlan",
    "MeshFault",
    "ProbeResult",
    "match_nodes",
    "param_duration",
    "revert_injection",
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


@dataclass(frozen=True)
class ProbeResult:
    """Whether the fault is observably in force, with what was seen."""

    ok: bool
    detail: str
    # what the fault measured (name, value, unit, labels): ``measurement`` events for gates
    measurements: list[dict[str, Any]] = field(default_factory=list)


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


def param_duration(entry: FaultEntry, key: str, default: float | None = None) -> float:
    if key not in entry.params:
        if default is None:
            raise ConfigError(f"{entry.kind} needs {key!r}", field=f"faults[{entry.index}].{key}")
        return default
    try:
        return parse_duration(entry.params[key], what=key)
    except ValueError as exc:
        raise ConfigError(str(exc), field=f"faults[{entry.index}].{key}") from exc


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
        ids = [i.id for i in injections]
        return ProbeResult(bool(ids), f"{self.kind.replace('_', ' ')} in force: {ids}")

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        revert_injection(platform, injections)
