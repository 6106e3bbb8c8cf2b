"""``mesh_delay``: the mesh delays ``percent`` % of a route's requests by ``delay`` (Envoy's
fault filter locally, an Istio VirtualService fault block on Kubernetes)."""

from __future__ import annotations

from typing import ClassVar

from chaos.base import FaultPlan, ProbeResult, param_duration, revert_injection
from harness.errors import ConfigError
from harness.platform.base import Injection, Platform
from harness.scenario import FaultEntry

__all__ = ["MeshDelay"]


class MeshDelay:
    kind: ClassVar[str] = "mesh_delay"
    reverts: ClassVar[bool] = True

    def validate(self, entry: FaultEntry, platform: Platform | None) -> FaultPlan:
        route = str(entry.target["route"])
        delay_ms = param_duration(entry, "delay") * 1000.0
        percent = float(entry.params.get("percent", 100.0))
        if platform is not None and route not in platform.endpoints():
            raise ConfigError(
                f"no route {route!r} (have {sorted(platform.endpoints())})",
                field=f"faults[{entry.index}].target.route",
            )
        return FaultPlan(
            entry,
            self.kind,
            [route],
            {"delay_ms": delay_ms, "percent": percent},
            f"delay {percent:g}% of {route} requests by {delay_ms:g} ms",
        )

    def inject(self, plan: FaultPlan, platform: Platform) -> list[Injection]:
        return [
            platform.mesh_fault(
                plan.targets[0],
                delay_ms=float(plan.params["delay_ms"]),
                percent=float(plan.params["percent"]),
                duration_s=plan.entry.duration_s,
            )
        ]

    def probe(
        self, plan: FaultPlan, platform: Platform, injections: list[Injection]
    ) -> ProbeResult:
        ids = [i.id for i in injections]
        return ProbeResult(bool(ids), f"mesh delay in force: {ids}")

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        revert_injection(platform, injections)
