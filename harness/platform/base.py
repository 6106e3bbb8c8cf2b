"""The Platform interface: what scenarios and faults may ask of a place where the stack runs.

Backends: ``harness.platform.local`` (real processes on this machine, the default),
``harness.platform.kubernetes`` (kind, EKS). A method a backend cannot perform raises
:class:`~harness.errors.Unsupported` with the reason, never a silent no-op.

Faults are data. Every fault primitive returns an :class:`Injection` whose ``undo`` holds what
:meth:`Platform.revert` needs to take it back, so the chaos ledger can write it to disk before
the fault starts and a later ``msai`` process can roll back a fault whose harness died.
``revert`` is idempotent: reverting twice, or reverting what already expired, is fine.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "PLATFORM_NAMES",
    "Endpoint",
    "Injection",
    "Node",
    "Platform",
    "Replica",
    "StackSpec",
    "new_injection_id",
]

#: Every backend by name; scenario files, the CLI and the pytest plugin take their choices here.
PLATFORM_NAMES = ("local", "k8s", "kind", "eks")

Store = Literal["postgresql", "redis", "s3"]


@dataclass(frozen=True)
class StackSpec:
    """What to bring up: a profile of ``values.yaml`` plus overrides (dotted keys)."""

    profile: str = "default"
    values_file: str | None = None  # default: reference-stack/charts/modelserve/values.yaml
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """A route through the gateway (what clients use) and the service behind it."""

    route: str  # "ner", "vision", "orchestrator"
    url: str  # base URL through the gateway, e.g. http://127.0.0.1:18080/ner
    service: str


@dataclass(frozen=True)
class Replica:
    service: str
    name: str  # unique: "ner-stable-0"
    node: str
    url: str  # direct base URL, bypassing the gateway
    ready: bool
    version: str = "stable"  # "stable" | "canary"


@dataclass(frozen=True)
class Node:
    name: str
    labels: dict[str, str]
    schedulable: bool
    replicas: list[str]


@dataclass(frozen=True)
class Injection:
    """One fault in force. ``undo`` is JSON-serialisable and enough to revert it later."""

    id: str
    platform: str
    kind: str  # "mesh_fault", "drain", "spot_interrupt", "outage", "partition", ...
    target: str
    params: dict[str, Any]
    undo: dict[str, Any]
    started: float
    expires: float | None = None  # unix seconds; None = until reverted

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "platform": self.platform,
            "kind": self.kind,
            "target": self.target,
            "params": self.params,
            "undo": self.undo,
            "started": self.started,
            "expires": self.expires,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Injection:
        return cls(**data)


def new_injection_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


@runtime_checkable
class Platform(Protocol):
    name: str

    # lifecycle
    def up(self, stack: StackSpec) -> None: ...
    def down(self) -> None: ...

    # observation
    def endpoints(self) -> dict[str, Endpoint]: ...
    def services(self) -> list[str]: ...
    def replicas(self, service: str) -> list[Replica]: ...
    def nodes(self) -> list[Node]: ...
    @property
    def prometheus_url(self) -> str: ...
    @property
    def alertmanager_url(self) -> str: ...

    # faults: each returns an Injection (except kill, which is not reverted: replicas come back
    # by the platform's own reconciliation, which is what a kill tests)
    def kill(self, service: str, count: int = 1, *, graceful: bool = False) -> list[str]: ...
    def drain(self, node: str) -> Injection: ...
    def spot_interrupt(self, node: str, notice_s: float) -> Injection: ...
    def mesh_fault(
        self,
        route: str,
        *,
        delay_ms: float | None = None,
        abort_status: int | None = None,
        percent: float = 100.0,
        duration_s: float | None = None,
    ) -> Injection: ...
    def outage(
        self, dependency: str, *, mode: str = "stop", duration_s: float | None = None
    ) -> Injection: ...
    def partition(self, a: str, b: str, *, duration_s: float | None = None) -> Injection: ...
    def revert(self, injection: Injection) -> None: ...

    # data protection
    def backup(self, store: Store) -> str: ...
    def restore(self, store: Store, backup_id: str) -> None: ...
