"""Chaos settings (``MSAI_CHAOS_*``): what may be broken, and how much at once."""

from __future__ import annotations

from dataclasses import dataclass

from modelserve.common.settings import env_field, load_settings

from harness.errors import ConfigError

__all__ = ["DEFAULT_ALLOW", "ChaosSettings", "chaos_settings"]

# The reference stack's own names. A kube-system pod, a database that is not the stack's, a
# node outside the node groups: refused unless the operator widens the list.
DEFAULT_ALLOW = [
    "ner",
    "vision",
    "orchestrator",
    "ner-*",
    "vision-*",
    "orchestrator-*",
    "general-*",
    "spot-*",
    "gpu-*",
    "high-memory-*",
    "redis",
    "postgresql",
    "s3",
    "gateway",
]


@dataclass(frozen=True)
class ChaosSettings:
    allow_targets: list[str] = env_field(
        DEFAULT_ALLOW, "glob patterns a fault target must match (comma-separated)"
    )
    max_concurrent_faults: int = env_field(4, "faults in force at once, at most (count)")
    max_abort_percent: float = env_field(
        50.0, "mesh aborts above this percent need allow_all: true in the scenario (percent)"
    )
    probe_delay_s: float = env_field(0.2, "wait after injecting before probing (seconds)")
    proof_timeout_s: float = env_field(
        60.0,
        "how long a fault's proof watches for an effect with no window of its own: a killed "
        "replica replaced, a drained node emptied (seconds)",
    )
    proof_poll_s: float = env_field(0.5, "between two looks of a fault's proof (seconds)")

    def validate(self) -> None:
        if self.max_concurrent_faults < 1:
            raise ConfigError("must be at least 1", field="MSAI_CHAOS_MAX_CONCURRENT_FAULTS")
        if not 0 < self.max_abort_percent <= 100:
            raise ConfigError("must be in (0, 100]", field="MSAI_CHAOS_MAX_ABORT_PERCENT")


def chaos_settings() -> ChaosSettings:
    return load_settings(ChaosSettings, prefix="MSAI_CHAOS_")
