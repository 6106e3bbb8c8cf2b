"""The Platform interface and its backends (local processes, kind, EKS).

``get_platform(name)`` returns a backend by name; backends load lazily so importing the
interface stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def get_platform(name: str, **options: Any) -> Platform:
    """The backend called ``name``: ``local``, ``kind`` or ``eks``. ``options`` go to the
    backend's constructor (local: ``home``, ``tied=True`` to stop the stack with the caller)."""
    if name == "local":
        from harness.platform.local import LocalPlatform

        return LocalPlatform(**options)
    if name in ("kind", "eks"):
        try:  # written by the Kubernetes issue
            kubernetes = importlib.import_module("harness.platform.kubernetes")
        except ImportError as exc:
            raise Unsupported(name, "start", "the Kubernetes backend is not installed") from exc
        factory = getattr(kubernetes, "get_platform", None)
        if factory is None:
            raise Unsupported(name, "start", "harness.platform.kubernetes has no get_platform")
        platform: Platform = factory(name, **options)
        return platform
    raise ConfigError(
        f"unknown platform {name!r}; one of {', '.join(PLATFORM_NAMES)}", field="platform"
    )
