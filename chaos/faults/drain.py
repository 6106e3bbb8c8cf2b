"""``drain``: cordon a node and move its replicas elsewhere (eviction respecting disruption
budgets on Kubernetes, graceful stop + reschedule locally). Rollback uncordons.

Proof, from the platform: each node cordoned and the services that had ready replicas on it
served by as many ready replicas on other nodes."""

from __future__ import annotations

from typing import ClassVar

from chaos.base import (
    FaultPlan,
    ProbeResult,
    holding,
    match_nodes,
    prove_moved,
    revert_injection,
)
from chaos.settings import chaos_settings
from harness.errors import ConfigError
from harness.platform.base import Injection, Platform
from harness.scenario import FaultEntry

__all__ = ["Drain"]


class Drain:
    kind: ClassVar[str] = "drain"
    reverts: ClassVar[bool] = True

    def validate(self, entry: FaultEntry, platform: Platform | None) -> FaultPlan:
        where = f"faults[{entry.index}].target"
        if platform is None:
            sel = entry.target.get("node") or f"label {entry.target.get('node_label')}"
            return FaultPlan(entry, self.kind, [], {}, f"drain node(s) {sel} (resolved at run)")
        nodes = holding(entry, platform, match_nodes(entry, platform.nodes()))
        if not nodes:
            have = [n.name for n in platform.nodes()]
            raise ConfigError(f"no node matches {entry.target} (nodes: {have})", field=where)
        names = [n.name for n in nodes]
        affects: dict[str, tuple[int, int]] = {}
        for service in platform.services():
            ready = [r for r in platform.replicas(service) if r.ready]
            hit = [r for r in ready if r.node in names]
            if hit:
                affects[service] = (len(hit), len(ready))
        return FaultPlan(entry, self.kind, names, {}, f"drain node(s) {names}", affects)

    def inject(self, plan: FaultPlan, platform: Platform) -> list[Injection]:
        return [platform.drain(node) for node in plan.targets]

    def probe(
        self, plan: FaultPlan, platform: Platform, injections: list[Injection]
    ) -> ProbeResult:
        """Each node cordoned and its replicas served from elsewhere, within the fault's
        duration (``MSAI_CHAOS_PROOF_TIMEOUT_S`` when it has none)."""
        if not injections:
            return ProbeResult(False, "not injected")
        started = min(i.started for i in injections)
        window = plan.entry.duration_s or chaos_settings().proof_timeout_s
        return prove_moved(platform, plan.targets, plan.affects, started + window)

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        revert_injection(platform, injections)
