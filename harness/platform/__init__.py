"""The Platform interface and its backends (local processes, kind, EKS).

``get_platform(name)`` returns a backend by name; backends load lazily so importing the
interface stays cheap.
"""

from __future__ import annotations

import importlib

from harness.errors import ConfigError, Unsupported
from harness.platform.base import (
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

PLATFORM_NAMES = ("local", "kind", "eks")


def get_platform(name: str) -> Platform:
    """The backend called ``name``: ``local``, ``kind`` or ``eks``."""
    if name == "local":
        from harness.platform.local import LocalPlatform

        return LocalPlatform()
    if name in ("kind", "eks"):
        try:  # written by the Kubernetes issue
            kubernetes = importlib.import_module("harness.platform.kubernetes")
        except ImportError as exc:
            raise Unsupported(name, "start", "the Kubernetes backend is not installed") from exc
        factory = getattr(kubernetes, "get_platform", None)
        if factory is None:
            raise Unsupported(name, "start", "harness.platform.kubernetes has no get_platform")
        platform: Platform = factory(name)
        return platform
    raise ConfigError(
        f"unknown platform {name!r}; one of {', '.join(PLATFORM_NAMES)}", field="platform"
    )
