"""The engine: Platform interface and backends, observers, gates, run record, CLI, pytest plugin.

Layers (checked by import-linter, see pyproject.toml): the core modules (``errors``,
``settings``, ``platform``, ``record``, ``gates``, ``observers``) sit below ``chaos``,
``loadtests`` and ``reports``; the top layer (``cli``, ``gameday``, ``pytest_plugin``) drives
them all.
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
