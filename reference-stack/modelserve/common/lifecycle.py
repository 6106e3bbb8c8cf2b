"""Replica states and the drain counters.

    loading --load ok--> ready --SIGTERM--> draining --deadline/idle--> stopped
       \\--load fails--> failed

Only ``ready`` answers 200 on readiness; every other state answers 503, never 200.
Inference is served while ``ready`` and during the drain delay (``draining``, so requests
routed before endpoints update still succeed); never while ``loading`` or ``failed``.
Requests answered while draining are counted as drained, except those cut off by the drain
deadline (answered 503 :class:`~modelserve.common.errors.DrainCutOff`, or never answered),
which are counted as dropped; both are logged when the replica stops.

A thread that cannot be stopped at the drain deadline (a forward pass inside a native
library) is registered with :func:`abandon_thread`; ``msai serve`` then exits without the
interpreter's finalisation (:func:`abandoned_threads`).
"""

from __future__ import annotations

import enum
import logging
import threading
import time

from modelserve.common.errors import ModelNotReady
from modelserve.common.metrics import ServerMetrics

__all__ = ["Lifecycle", "State", "abandon_thread", "abandoned_threads"]

_log = logging.getLogger("modelserve.lifecycle")
_abandoned: list[threading.Thread] = []


def abandon_thread(thread: threading.Thread) -> None:
    """Record that ``thread`` was left running at shutdown (process-wide: it is the process
    that cannot finalise around it)."""
    _log.warning("thread abandoned at the drain deadline", extra={"thread_name": thread.name})
    _abandoned.append(thread)


def abandoned_threads() -> list[str]:
    """Names of the abandoned threads still running."""
    return [t.name for t in _abandoned if t.is_alive()]


class State(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    DRAINING = "draining"
    STOPPED = "stopped"
    FAILED = "failed"


class Lifecycle:
    """Thread-safe state of one replica (signal handlers and the loader thread change it)."""

    def __init__(self, model: str, metrics: ServerMetrics) -> None:
        self.model = model
        self._metrics = metrics
        self._lock = threading.Lock()
        self.state = State.LOADING
        self.error: str | None = None
        self.in_flight = 0
        self.drained = 0
        self.dropped = 0
        self.drain_started: float | None = None
        self.load_seconds: float | None = None
        self._final = False  # counts are settled; late cancellations change nothing
        self.model_loaded = False

    @property
    def ready(self) -> bool:
        return self.state is State.READY

    def _set(self, state: State) -> None:
        self.state = state
        self._metrics.set_ready(state is State.READY)

    def loaded(self, seconds: float) -> None:
        with self._lock:
            self.load_seconds = seconds
            self.model_loaded = True
            self._metrics.set_load_seconds(seconds)
            if self.state is State.LOADING:  # a SIGTERM during load wins
                self._set(State.READY)

    def failed(self, error: str) -> None:
        with self._lock:
            self.error = error
            self._set(State.FAILED)

    def begin_drain(self) -> bool:
        """Readiness goes false at once; True the first time only."""
        with self._lock:
            if self.state in (State.DRAINING, State.STOPPED):
                return False
            self.drain_started = time.monotonic()
            self._set(State.DRAINING)
        _log.info("draining", extra={"model": self.model, "in_flight": self.in_flight})
        return True

    def stopped(self) -> None:
        with self._lock:
            self.dropped += self.in_flight
            self._final = True
            self._set(State.STOPPED)
        _log.info(
            "stopped",
            extra={"model": self.model, "drained": self.drained, "dropped": self.dropped},
        )

    def check_serving(self) -> None:
        """Raise 503 unless inference may run now."""
        state = self.state
        if not self.model_loaded or state not in (State.READY, State.DRAINING):
            detail = f": {self.error}" if self.error else ""
            what = state.value if self.model_loaded else f"{state.value}, not loaded"
            raise ModelNotReady(f"model {self.model!r} is {what}{detail}", field="model")

    # Request accounting (called on the event loop only).
    def enter(self) -> None:
        self.in_flight += 1

    def leave(self, completed: bool) -> None:
        self.in_flight -= 1
        if self.drain_started is not None and not self._final:
            if completed:
                self.drained += 1
            else:
                self.dropped += 1
