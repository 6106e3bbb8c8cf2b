"""``restart``: graceful restart of replicas (SIGTERM: readiness off, drain, exit; the platform
starts replacements). Like ``kill``, nothing is reverted; proved the same way (a replica seen
before gone, a new one ready: :func:`chaos.base.prove_replaced`)."""

from __future__ import annotations

import time
from typing import ClassVar

from chaos.base import FaultPlan, ProbeResult, prove_replaced
from harness.errors import ConfigError
from harness.platform.base import Injection, Platform, new_injection_id
from harness.scenario import FaultEntry

__all__ = ["Restart"]


class Restart:
    kind: ClassVar[str] = "restart"
    reverts: ClassVar[bool] = False

    def validate(self, entry: FaultEntry, platform: Platform | None) -> FaultPlan:
        service = str(entry.target["service"])
        count = int(entry.params.get("count", 1))
        affects: dict[str, tuple[int, int]] = {}
        if platform is not None:
            if service not in platform.services():
                raise ConfigError(
                    f"no service {service!r} (have {platform.services()})",
                    field=f"faults[{entry.index}].target.service",
                )
            ready = [r for r in platform.replicas(service) if r.ready]
            affects[service] = (min(count, len(ready)), len(ready))
        return FaultPlan(
            entry=entry,
            kind=self.kind,
            targets=[service],
            params={"count": count},
            describe=f"graceful restart (SIGTERM, drain) of {count} replica(s) of {service}",
            affects=affects,
        )

    def inject(self, plan: FaultPlan, platform: Platform) -> list[Injection]:
        # what the proof compares with: the platform's ready replicas just before the restart
        before = sorted(r.name for r in platform.replicas(plan.targets[0]) if r.ready)
        victims = platform.kill(plan.targets[0], int(plan.params["count"]), graceful=True)
        return [
            Injection(
                id=new_injection_id(self.kind),
                platform=platform.name,
                kind=self.kind,
                target=plan.targets[0],
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
            return ProbeResult(False, f"{plan.targets[0]} had no ready replica to restart")
        return prove_replaced(platform, plan.targets[0], before, count, inj.started)

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        """Nothing to revert: replacements come from the platform."""
