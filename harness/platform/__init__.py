"""The Platform interface and its backends (local processes, kind, EKS).

``get_platform(name)`` returns a backend by name; backends load lazily so importing the
interface stays cheap.
"""

from __future__ import annotations

from typing import Any

from harness.errors import ConfigError, Unsupported
from harness.platform.base import (
    PLATFORM_NAMES,
    Endpoint,
    Injection,
    Node,
    Platform,
    Replica,
    StackSpec,
    new_injection_id,
)

__all__ = [
    "PLATFORM_NAMES",
    "Endpoint",
    "Injection",
    "Node",
    "Platform",
    "Replica",
    "StackSpec",
    "get_platform",
    "new_injection_id",
]


def get_platform(name: str, **options: Any) -> Platform:
    """The backend called ``name`` (one of :data:`PLATFORM_NAMES`). ``options`` go to the
    backend's constructor (local: ``home``, ``tied=True`` to stop the stack with the caller)."""
    if name == "local":
        from harness.platform.local import LocalPlatform

        return LocalPlatform(**options)
    if name in PLATFORM_NAMES:
        try:  # the Kubernetes client is an optional dependency
            from harness.platform.kubernetes import get_platform as kubernetes_platform
        except ImportError as exc:
            raise Unsupported(name, "start", f"the Kubernetes backend cannot load: {exc}") from exc
        return kubernetes_platform(name, **options)
    raise ConfigError(
        f"unknown platform {name!r}; one of {', '.join(PLATFORM_NAMES)}", field="platform"
    )
