"""Guards: a fault runs only on allow-listed targets and within blast-radius limits.

Checked twice: statically when the scenario is planned (``--dry-run`` shows the verdicts), and
again right before each injection against the platform's state at that moment, so two faults
that are each safe cannot together take down every replica.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

from chaos.base import FaultPlan
from chaos.settings import ChaosSettings, chaos_settings
from harness.errors import GuardViolation

__all__ = ["Guard"]

_TARGET_KEYS = ("service", "node", "route", "dependency")


@dataclass(frozen=True)
class Guard:
    allow: tuple[str, ...]
    max_concurrent: int
    max_abort_percent: float

    @classmethod
    def from_settings(cls, s: ChaosSettings | None = None) -> Guard:
        s = s or chaos_settings()
        return cls(tuple(s.allow_targets), s.max_concurrent_faults, s.max_abort_percent)

    def allowed(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.allow)

    def check(self, plan: FaultPlan, active: Sequence[FaultPlan] = ()) -> None:
        """Raise :class:`GuardViolation` naming the fault and the rule it breaks."""
        entry = plan.entry
        names = [str(entry.target[k]) for k in _TARGET_KEYS if k in entry.target]
        names += [str(x) for x in entry.target.get("between", [])]
        names = [n for n in names if not any(c in n for c in "*?[")]  # globs: check what matched
        names += plan.targets
        refused = sorted({n for n in names if not self.allowed(n)})
        if refused:
            raise GuardViolation(
                f"{entry.label}: target(s) {refused} not in the allow-list {list(self.allow)} "
                "(MSAI_CHAOS_ALLOW_TARGETS)"
            )
        if not entry.allow_all:
            for service, (hit, total) in sorted(plan.affects.items()):
                if total > 0 and hit >= total:
                    raise GuardViolation(
                        f"{entry.label}: would take all {total} ready replica(s) of {service}; "
                        "set allow_all: true on the fault if that is the experiment"
                    )
            percent = float(plan.params.get("percent", 0.0))
            if "abort_status" in plan.params and percent > self.max_abort_percent:
                raise GuardViolation(
                    f"{entry.label}: aborting {percent:g}% of requests exceeds "
                    f"{self.max_abort_percent:g}% (MSAI_CHAOS_MAX_ABORT_PERCENT); "
                    "set allow_all: true if that is the experiment"
                )
        if len(active) >= self.max_concurrent:
            raise GuardViolation(
                f"{entry.label}: {len(active)} faults already in force, limit "
                f"{self.max_concurrent} (MSAI_CHAOS_MAX_CONCURRENT_FAULTS)"
            )
