"""``restart``: graceful restart of replicas (SIGTERM: readiness off, drain, exit; the platform
starts replacements). Like ``kill``, nothing is reverted."""

from __future__ import annotations

import time
from typing import ClassVar

from chaos.base import FaultPlan, ProbeResult
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
        victims = platform.kill(plan.targets[0], int(plan.params["count"]), graceful=True)
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
        victims = injections[0].params.get("victims", []) if injections else []
        if not victims:
            return ProbeResult(False, "the platform restarted no replica")
        return ProbeResult(True, f"restarting {sorted(victims)}")

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        """Nothing to revert: replacements come from the platform."""
