"""Signals that must still lead to rollback: Ctrl-C (SIGINT), SIGTERM and SIGHUP.

Inside :func:`rollback_on_signals`, SIGTERM and SIGHUP raise :class:`Interrupted` in the main
thread (SIGINT raises KeyboardInterrupt as usual), so the game day's ``finally`` runs and rolls
every fault back. :func:`shielded` holds further signals off while the rollback itself runs,
then re-delivers the first one. Outside the main thread both are no-ops (signal handlers can
only be set there).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["Interrupted", "rollback_on_signals", "shielded"]

_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """The run was asked to stop by a signal; rollback runs, then the process exits."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def rollback_on_signals() -> Iterator[None]:
    if not _main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise) for s in _SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def shielded() -> Iterator[list[int]]:
    """Defer SIGINT/SIGTERM/SIGHUP while rolling back; the first one deferred is re-raised
    as :class:`Interrupted` / KeyboardInterrupt afterwards."""
    if not _main_thread():
        yield []
        return
    deferred: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        deferred.append(signum)

    sigs = (signal.SIGINT, *_SIGNALS)
    previous: dict[int, Any] = {s: signal.signal(s, hold) for s in sigs}
    try:
        yield deferred
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if deferred:
        if deferred[0] == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(deferred[0])
