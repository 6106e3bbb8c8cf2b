"""``dependency_outage``: Redis or PostgreSQL goes away. ``mode``: ``stop`` (process stopped),
``freeze`` (SIGSTOP: connections hang, the nastier case), ``cutoff`` (network cut, the process
keeps running). Rollback restarts, thaws or reconnects it.

Proof, from the platform's metrics: ``modelserve_dependency_up`` of the dependency reads 0
during the window (within ``MSAI_CHAOS_PROOF_TIMEOUT_S`` when the fault has no duration). A
platform without Prometheus, or a dependency without that series (S3), is unobservable.
"""

from __future__ import annotations

import time
from typing import ClassVar

from chaos.base import FaultPlan, ProbeResult, revert_injection, watch_prometheus
from chaos.settings import chaos_settings
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
        if not injections:
            return ProbeResult(False, "not injected")
        dependency, started = plan.targets[0], injections[0].started
        window = plan.entry.duration_s or chaos_settings().proof_timeout_s
        query = f'min(modelserve_dependency_up{{dependency="{dependency}"}})'
        seen, value = watch_prometheus(platform, query, lambda v: v < 1, started + window)
        took = time.time() - started
        if seen is None:
            return ProbeResult.unobservable(f"no {query} series to tell {dependency} is down")
        if not seen:
            return ProbeResult(False, f"{query} still {value:g} after {took:.1f}s")
        return ProbeResult(
            True,
            f"{dependency} down ({plan.params['mode']}): {query} = {value:g} after {took:.1f}s",
            [{"name": "down_seen_s", "value": round(took, 3), "unit": "s", "target": dependency}],
        )

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        revert_injection(platform, injections)
