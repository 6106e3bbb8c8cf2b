"""``mesh_abort``: the mesh answers ``percent`` % of a route's requests with ``status``
(default 503) instead of forwarding them (Envoy fault filter / Istio fault abort)."""

from __future__ import annotations

from typing import ClassVar

from chaos.base import FaultPlan, ProbeResult, revert_injection
from harness.errors import ConfigError
from harness.platform.base import Injection, Platform
from harness.scenario import FaultEntry

__all__ = ["MeshAbort"]


class MeshAbort:
    kind: ClassVar[str] = "mesh_abort"
    reverts: ClassVar[bool] = True

    def validate(self, entry: FaultEntry, platform: Platform | None) -> FaultPlan:
        route = str(entry.target["route"])
        status = int(entry.params.get("status", 503))
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
            {"abort_status": status, "percent": percent},
            f"abort {percent:g}% of {route} requests with HTTP {status}",
        )

    def inject(self, plan: FaultPlan, platform: Platform) -> list[Injection]:
        return [
            platform.mesh_fault(
                plan.targets[0],
                abort_status=int(plan.params["abort_status"]),
                percent=float(plan.params["percent"]),
                duration_s=plan.entry.duration_s,
            )
        ]

    def probe(
        self, plan: FaultPlan, platform: Platform, injections: list[Injection]
    ) -> ProbeResult:
        ids = [i.id for i in injections]
        return ProbeResult(bool(ids), f"mesh abort in force: {ids}")

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        revert_injection(platform, injections)
