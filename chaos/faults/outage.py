"""``dependency_outage``: Redis or PostgreSQL goes away. ``mode``: ``stop`` (process stopped),
``freeze`` (SIGSTOP: connections hang, the nastier case), ``cutoff`` (network cut, the process
keeps running). Rollback restarts, thaws or reconnects it."""

from __future__ import annotations

from typing import ClassVar

from chaos.base import FaultPlan, ProbeResult, revert_injection
from harness.platform.base import Injection, Platform
from harness.scenario import FaultEntry

__all__ = ["DependencyOutage"]


class DependencyOutage:
    kind: ClassVar[str] = "dependency_outage"
    reverts: ClassVar[bool] = True

    def validate(self, entry: FaultEntry, platform: Platform | None) -> FaultPlan:
        dependency = str(entry.target["dependency"])
        mode = str(entry.params.get("mode", "stop"))
        return FaultPlan(
            entry,
            self.kind,
            [dependency],
            {"mode": mode},
            f"{dependency} outage ({mode})",
        )

    def inject(self, plan: FaultPlan, platform: Platform) -> list[Injection]:
        return [
            platform.outage(
                plan.targets[0], mode=str(plan.params["mode"]), duration_s=plan.entry.duration_s
            )
        ]

    def probe(
        self, plan: FaultPlan, platform: Platform, injections: list[Injection]
    ) -> ProbeResult:
        return ProbeResult(bool(injections), f"{plan.targets[0]} {plan.params['mode']}")

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        revert_injection(platform, injections)
