"""The core: Platform interface and backends, scenario model, observers, gates, run record,
errors.

Layers (import-linter ``layers`` contract in pyproject.toml): this package imports nothing of
``chaos``, ``loadtests``, ``reports`` or the run engine ``msai``, which all build on it.
"""

from harness.errors import (
    ConfigError,
    FaultError,
    GuardViolation,
    HarnessError,
    MissingBinary,
    PlatformError,
    PortInUse,
    RecordError,
    Unsupported,
)

__all__ = [
    "ConfigError",
    "FaultError",
    "GuardViolation",
    "HarnessError",
    "MissingBinary",
    "PlatformError",
    "PortInUse",
    "RecordError",
    "Unsupported",
]
