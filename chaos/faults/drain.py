"""``drain``: cordon a node and move its replicas elsewhere (eviction respecting disruption
budgets on Kubernetes, graceful stop + reschedule locally). Rollback uncordons."""

from __future__ import annotations

from typing import ClassVar

from chaos.base import FaultPlan, ProbeResult, match_nodes, revert_injection
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
        nodes = match_nodes(entry, platform.nodes())
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
        cordoned = {n.name for n in platform.nodes() if not n.schedulable}
        missing = sorted(set(plan.targets) - cordoned)
        if missing:
            return ProbeResult(False, f"still schedulable: {missing}")
        return ProbeResult(True, f"cordoned: {sorted(plan.targets)}")

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        revert_injection(platform, injections)
