"""``partition``: two services cannot reach each other (both directions) for a window.
Locally the mesh refuses the pair's traffic; on Kubernetes a deny NetworkPolicy."""

from __future__ import annotations

from typing import ClassVar

from chaos.base import FaultPlan, ProbeResult, revert_injection
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
        return ProbeResult(bool(injections), f"partitioned {plan.targets}")

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        revert_injection(platform, injections)
