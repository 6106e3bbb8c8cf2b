"""``spot_interruption``: a spot notice on a node (``notice``, default 120 s as on AWS); the
platform's termination handler drains it and the node terminates when the notice expires, then
capacity is replaced. Rollback brings the node back (replacement) and clears the notice.

Proof, from the platform: the node is cordoned and every service that had ready replicas on it
is served by as many ready replicas on other nodes before the notice ends.

``target.node_label: spot`` picks the first matching node (AWS interrupts one instance at a
time); ``target.node`` may name one or a glob; ``target.holding: SERVICE`` keeps only nodes
that run a ready replica of SERVICE, so the interruption displaces what the gates judge (no
such node: the plan is refused, naming where SERVICE runs).
"""

from __future__ import annotations

from typing import ClassVar

from chaos.base import (
    FaultPlan,
    ProbeResult,
    holding,
    match_nodes,
    param_duration,
    prove_moved,
    revert_injection,
)
from harness.errors import ConfigError
from harness.platform.base import Injection, Platform
from harness.scenario import FaultEntry

__all__ = ["SpotInterruption"]

AWS_NOTICE_S = 120.0


class SpotInterruption:
    kind: ClassVar[str] = "spot_interruption"
    reverts: ClassVar[bool] = True

    def validate(self, entry: FaultEntry, platform: Platform | None) -> FaultPlan:
        notice = param_duration(entry, "notice", AWS_NOTICE_S)
        where = f"faults[{entry.index}].target"
        if platform is None:
            sel = entry.target.get("node") or f"first node labelled {entry.target['node_label']}"
            return FaultPlan(
                entry,
                self.kind,
                [],
                {"notice_s": notice},
                f"spot interruption notice on {sel} (resolved at run), terminate after {notice:g}s",
            )
        nodes = [n for n in match_nodes(entry, platform.nodes()) if n.schedulable]
        if not nodes:
            have = [n.name for n in platform.nodes()]
            raise ConfigError(f"no schedulable node matches {entry.target} ({have})", field=where)
        held = holding(entry, platform, nodes)
        if not held:
            service = entry.target["holding"]
            on = sorted({r.node for r in platform.replicas(str(service)) if r.ready})
            raise ConfigError(
                f"no node matching {entry.target} holds a ready {service} replica "
                f"({service} runs on {on}): the fault would not touch what the gates judge",
                field=f"{where}.holding",
            )
        nodes = held
        node = nodes[0].name
        affects: dict[str, tuple[int, int]] = {}
        for service in platform.services():
            ready = [r for r in platform.replicas(service) if r.ready]
            hit = [r for r in ready if r.node == node]
            if hit:
                affects[service] = (len(hit), len(ready))
        return FaultPlan(
            entry,
            self.kind,
            [node],
            {"notice_s": notice},
            f"spot interruption notice on {node}, terminate after {notice:g}s",
            affects,
        )

    def inject(self, plan: FaultPlan, platform: Platform) -> list[Injection]:
        return [platform.spot_interrupt(plan.targets[0], float(plan.params["notice_s"]))]

    def probe(
        self, plan: FaultPlan, platform: Platform, injections: list[Injection]
    ) -> ProbeResult:
        """Cordoned, and its replicas served from other nodes, before the notice ends."""
        if not injections:
            return ProbeResult(False, "not injected")
        deadline = injections[0].started + float(plan.params["notice_s"])
        return prove_moved(platform, plan.targets, plan.affects, deadline)

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        revert_injection(platform, injections)
