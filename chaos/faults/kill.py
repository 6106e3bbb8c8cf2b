"""``kill``: SIGKILL replicas of a service (``graceful: true`` sends SIGTERM and lets them drain).

Nothing is reverted: the platform's own reconciliation (Deployment controller, the local
supervisor) brings replacements, which is what the fault tests.
"""

from __future__ import annotations

import time
from typing import ClassVar

from chaos.base import FaultPlan, ProbeResult
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
        victims = platform.kill(
            plan.targets[0], int(plan.params["count"]), graceful=bool(plan.params["graceful"])
        )
        # Recorded for the ledger and the run record; there is nothing to undo.
        return [
            Injection(
                id=new_injection_id(self.kind),
                platform=platform.name,
                kind=self.kind,
                target=plan.targets[0],
                params={**plan.params, "victims": victims},
                undo={},
                started=time.time(),
            )
        ]

    def probe(
        self, plan: FaultPlan, platform: Platform, injections: list[Injection]
    ) -> ProbeResult:
        victims = set(injections[0].params.get("victims", [])) if injections else set()
        still_ready = [r.name for r in platform.replicas(plan.targets[0]) if r.ready]
        alive = sorted(victims & set(still_ready))
        if not victims:
            return ProbeResult(False, "the platform killed no replica")
        if alive:
            return ProbeResult(False, f"still ready after the kill: {alive}")
        return ProbeResult(True, f"killed {sorted(victims)}")

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        """Nothing to revert: replacements come from the platform."""
