"""``kill``: SIGKILL replicas of a service (``graceful: true`` sends SIGTERM and lets them drain).

Nothing is reverted: the platform's own reconciliation (Deployment controller, the local
supervisor) brings replacements, which is what the fault tests.

Proof, from the platform's replica list (a replica's name is one instance on every backend: a
pod name, a local replica numbered by its supervisor): within ``MSAI_CHAOS_PROOF_TIMEOUT_S``
``count`` of the replicas seen before the kill are gone or unready, and as many ready replicas
as before serve again, at least one of them new.
"""

from __future__ import annotations

import time
from typing import ClassVar

from chaos.base import FaultPlan, ProbeResult, prove_replaced
from harness.errors import ConfigError
from harness.platform.base import Injection, Platform, new_injection_id
from harness.scenario import FaultEntry

__all__ = ["Kill"]


class Kill:
    kind: ClassVar[str] = "kill"
    reverts: ClassVar[bool] = False

    def validate(self, entry: FaultEntry, platform: Platform | None) -> FaultPlan:
        service = str(entry.target["service"])
        count = int(entry.params.get("count", 1))
        graceful = bool(entry.params.get("graceful", False))
        affects: dict[str, tuple[int, int]] = {}
        if platform is not None:
            if service not in platform.services():
                raise ConfigError(
                    f"no service {service!r} (have {platform.services()})",
                    field=f"faults[{entry.index}].target.service",
                )
            ready = [r for r in platform.replicas(service) if r.ready]
            affects[service] = (min(count, len(ready)), len(ready))
        how = "SIGTERM (graceful)" if graceful else "SIGKILL"
        return FaultPlan(
            entry=entry,
            kind=self.kind,
            targets=[service],
            params={"count": count, "graceful": graceful},
            describe=f"{how} {count} replica(s) of {service}",
            affects=affects,
        )

    def inject(self, plan: FaultPlan, platform: Platform) -> list[Injection]:
        service = plan.targets[0]
        # what the proof compares with: the platform's ready replicas just before the kill
        before = sorted(r.name for r in platform.replicas(service) if r.ready)
        victims = platform.kill(
            service, int(plan.params["count"]), graceful=bool(plan.params["graceful"])
        )
        # Recorded for the ledger and the run record; there is nothing to undo.
        return [
            Injection(
                id=new_injection_id(self.kind),
                platform=platform.name,
                kind=self.kind,
                target=service,
                params={**plan.params, "victims": victims, "ready_before": before},
                undo={},
                started=time.time(),
            )
        ]

    def probe(
        self, plan: FaultPlan, platform: Platform, injections: list[Injection]
    ) -> ProbeResult:
        if not injections:
            return ProbeResult(False, "not injected")
        inj = injections[0]
        before = list(inj.params.get("ready_before", []))
        count = min(int(plan.params["count"]), len(before))
        if count == 0:
            return ProbeResult(False, f"{plan.targets[0]} had no ready replica to kill")
        return prove_replaced(platform, plan.targets[0], before, count, inj.started)

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        """Nothing to revert: replacements come from the platform."""
