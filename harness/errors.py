"""The one exception tree of the harness (and of chaos, loadtests, reports, which import it).

    HarnessError                    base; ``msai`` prints ``str(exc)`` and exits 4 (error)
    ├── ConfigError                 a scenario file, values file or setting is wrong; names the
    │                               file and the field (and line where known)
    ├── Unsupported                 the platform cannot do this (with the reason); never a no-op
    ├── PlatformError               a component failed to start, stop or answer
    │   ├── PortInUse               names the port and what holds it
    │   └── MissingBinary           names the binary and the package that provides it
    ├── FaultError                  a fault could not be injected or rolled back
    ├── GuardViolation              a fault outside the allow-list or blast-radius limit
    └── RecordError                 a run record is missing, partial or malformed; names the file

Verdicts (pass / fail / inconclusive) are results, not errors: gates return them.
"""

from __future__ import annotations

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


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class ConfigError(HarnessError):
    """Bad configuration. ``source`` is the file (or variable), ``field`` the path inside it."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        where = ""
        if source:
            where = source + (f":{line}" if line is not None else "")
            where += f" [{field}]" if field else ""
            where += ": "
        elif field:
            where = f"[{field}]: "
        super().__init__(where + message)
        self.source = source
        self.field = field
        self.line = line


class Unsupported(HarnessError):
    """The platform cannot perform the operation; the message says why."""

    def __init__(self, platform: str, operation: str, reason: str) -> None:
        super().__init__(f"{platform} platform cannot {operation}: {reason}")
        self.platform = platform
        self.operation = operation
        self.reason = reason


class PlatformError(HarnessError):
    """A component failed to start, stop or answer."""


class PortInUse(PlatformError):
    def __init__(self, port: int, holder: str) -> None:
        super().__init__(f"port {port} on 127.0.0.1 is already in use by {holder}")
        self.port = port
        self.holder = holder


class MissingBinary(PlatformError):
    def __init__(self, binary: str, package: str, how: str = "run scripts/setup") -> None:
        super().__init__(f"{binary} not found: it comes with {package} ({how})")
        self.binary = binary
        self.package = package


class FaultError(HarnessError):
    """A fault could not be injected or rolled back."""


class GuardViolation(HarnessError):
    """A fault's target is outside the allow-list or beyond the blast-radius limit."""


class RecordError(HarnessError):
    """A run record is missing, partial or malformed."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
