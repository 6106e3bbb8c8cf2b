"""Built-in fault hooks: added latency, error ratio, hang, crash, slow model load.

Off unless the replica starts with fault hooks enabled (``*_FAULT_HOOKS=1``) and an admin
token; then ``POST /admin/faults`` (header ``x-admin-token``) sets them at run time,
``DELETE /admin/faults[/{name}]`` removes them, ``GET /admin/faults`` shows them. Nothing is
persisted, so a restart clears every fault. Random draws (error ratio, latency jitter) come
from one RNG seeded at start and re-seeded whenever faults are set, so runs repeat.

    latency_ms   added before each request is queued (event loop; does not block others)
    jitter_ms    uniform extra latency in [0, jitter_ms)
    error_ratio  fraction of requests answered 500 (type FaultInjected)
    hang         the inference thread blocks until the fault is removed (or hang_s passes):
                 requests pile up, liveness fails after ``stall_after_s``
    crash        the process exits with code 3 right after answering the admin call
    slow load    a start-up setting (``*_FAULT_SLOW_LOAD_S``): sleep that long in load()
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from modelserve.common.errors import BadInput, ModelServeError
from modelserve.common.metrics import ServerMetrics

__all__ = ["FaultInjected", "FaultSpec", "Faults"]

_NAMES = ("latency_ms", "jitter_ms", "error_ratio", "hang", "hang_s", "crash")


class FaultInjected(ModelServeError):
    """A 500 produced on purpose by the error-ratio hook."""

    status = 500


@dataclass(frozen=True)
class FaultSpec:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_ratio: float = 0.0
    hang: bool = False
    hang_s: float = 0.0  # 0: until removed
    crash: bool = False

    @property
    def active(self) -> bool:
        return self != FaultSpec()


def _parse(body: Any, current: FaultSpec) -> tuple[FaultSpec, int | None]:
    if not isinstance(body, dict):
        raise BadInput("body must be a JSON object of faults", field="body")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BadInput("seed must be an integer", field="seed")
    unknown = set(body) - set(_NAMES) - {"seed"}
    if unknown:
        raise BadInput(
            f"unknown faults {sorted(unknown)}; known: {list(_NAMES)}", field=sorted(unknown)[0]
        )
    changes: dict[str, Any] = {}
    for f in fields(FaultSpec):
        if f.name not in body:
            continue
        value = body[f.name]
        if f.type in ("bool", bool):
            if not isinstance(value, bool):
                raise BadInput(f"{f.name} must be true or false", field=f.name)
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise BadInput(f"{f.name} must be a non-negative number", field=f.name)
            value = float(value)
        changes[f.name] = value
    spec = replace(current, **changes)
    if spec.error_ratio > 1:
        raise BadInput("error_ratio must be within [0, 1]", field="error_ratio")
    return spec, seed


class Faults:
    """The fault state of one replica; read on the hot path without a lock (immutable spec)."""

    def __init__(self, enabled: bool, seed: int, metrics: ServerMetrics) -> None:
        self.enabled = enabled
        self.seed = seed
        self.spec = FaultSpec()
        self._rng = random.Random(seed)
        self._metrics = metrics
        self._unhang = threading.Event()

    def set(self, body: Any) -> FaultSpec:
        spec, seed = _parse(body, self.spec)
        self.seed = self.seed if seed is None else seed
        self._rng = random.Random(self.seed)
        if not spec.hang:
            self._unhang.set()
        else:
            self._unhang.clear()
        self.spec = spec
        return spec

    def clear(self, name: str | None = None) -> FaultSpec:
        if name is None:
            self.spec = FaultSpec()
        else:
            if name not in _NAMES:
                raise BadInput(f"unknown fault {name!r}; known: {list(_NAMES)}", field="name")
            self.spec = replace(self.spec, **{name: getattr(FaultSpec(), name)})
        if not self.spec.hang:
            self._unhang.set()
        return self.spec

    def describe(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "seed": self.seed, "faults": asdict(self.spec)}

    # -- hooks (cheap when nothing is set) -------------------------------------------------
    def request_delay_s(self) -> float:
        spec = self.spec
        if not spec.latency_ms and not spec.jitter_ms:
            return 0.0
        self._metrics.fault_fired("latency")
        return (spec.latency_ms + self._rng.random() * spec.jitter_ms) / 1000.0

    def maybe_error(self) -> None:
        ratio = self.spec.error_ratio
        if ratio and self._rng.random() < ratio:
            self._metrics.fault_fired("error")
            raise FaultInjected(f"injected error (error_ratio={ratio})")

    def before_batch(self, size: int) -> None:
        """Runs in the inference thread before each forward pass."""
        spec = self.spec
        if spec.hang:
            self._metrics.fault_fired("hang")
            self._unhang.wait(spec.hang_s or None)
            if spec.hang_s and self.spec is spec:
                self.spec = replace(spec, hang=False, hang_s=0.0)  # a timed hang ends itself

    def release(self) -> None:
        """Unblock a hung inference thread (shutdown)."""
        self._unhang.set()
