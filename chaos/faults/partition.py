"""``partition``: two services cannot reach each other (both directions) for a window.
Locally the mesh refuses the pair's traffic; on Kubernetes a deny NetworkPolicy.

Proof, from the system during the window: between the gateway and a service, the service's
readiness route through the gateway stops answering 200; between a service and Redis or
PostgreSQL, the service's ``modelserve_dependency_up`` of it reads 0. Other pairs (service to
service) have no outside view here: unobservable.
"""

from __future__ import annotations

import time
from typing import ClassVar

from chaos.base import FaultPlan, ProbeResult, revert_injection, watch_prometheus
from chaos.settings import chaos_settings
from harness.errors import ConfigError
from harness.platform.base import Injection, Platform
from harness.scenario import FaultEntry

__all__ = ["Partition"]

_DEPENDENCIES = ("redis", "postgresql", "s3", "gateway")


class Partition:
    kind: ClassVar[str] = "partition"
    reverts: ClassVar[bool] = True

    def validate(self, entry: FaultEntry, platform: Platform | None) -> FaultPlan:
        a, b = (str(x) for x in entry.target["between"])
        if platform is not None:
            known = set(platform.services()) | set(_DEPENDENCIES)
            unknown = [x for x in (a, b) if x not in known]
            if unknown:
                raise ConfigError(
                    f"unknown service(s) {unknown} (have {sorted(known)})",
                    field=f"faults[{entry.index}].target.between",
                )
        return FaultPlan(entry, self.kind, [a, b], {}, f"network partition between {a} and {b}")

    def inject(self, plan: FaultPlan, platform: Platform) -> list[Injection]:
        a, b = plan.targets
        return [platform.partition(a, b, duration_s=plan.entry.duration_s)]

    def probe(
        self, plan: FaultPlan, platform: Platform, injections: list[Injection]
    ) -> ProbeResult:
        if not injections:
            return ProbeResult(False, "not injected")
        a, b = plan.targets
        started = injections[0].started
        deadline = started + (plan.entry.duration_s or chaos_settings().proof_timeout_s)
        if "gateway" in (a, b):
            return _gateway_cut(platform, b if a == "gateway" else a, deadline)
        pair = {a, b} & {"redis", "postgresql"}
        if len(pair) == 1:
            dependency = pair.pop()
            service = b if a == dependency else a
            query = (
                f'min(modelserve_dependency_up{{dependency="{dependency}",service="{service}"}})'
            )
            seen, value = watch_prometheus(platform, query, lambda v: v < 1, deadline)
            if seen is None:
                return ProbeResult.unobservable(f"no {query} series to tell the cut")
            return ProbeResult(bool(seen), f"{query} = {value:g}")
        return ProbeResult.unobservable(
            f"no outside view of traffic between {a} and {b} (only gateway or dependency pairs)"
        )

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        revert_injection(platform, injections)


def _gateway_cut(platform: Platform, service: str, deadline: float) -> ProbeResult:
    """The service's readiness through the gateway fails (any answer but 200, or none)."""
    from harness.probes import run_probe

    route = next((r for r, e in platform.endpoints().items() if e.service == service), None)
    if route is None:
        return ProbeResult.unobservable(f"no gateway route to {service}")
    probe = {"probe": "http", "route": route, "path": "/v2/health/ready"}
    poll = chaos_settings().proof_poll_s
    while True:
        out = run_probe(probe, platform)
        if not out.ok:
            return ProbeResult(True, f"gateway -> {service} cut: {out.name}: {out.detail}")
        if time.time() >= deadline:
            return ProbeResult(False, f"gateway -> {service} still serves: {out.detail}")
        time.sleep(poll)
