"""Costly request content is parsed off the event loop, on a bounded pool.

The event loop parses a request inline when it is cheap, as nearly all are: a JSON body of a
few kilobytes, small images. What a request costs is only known while parsing it, so models
report their costly work as they go: :func:`charge_pixels` for each image header read, before
its pixels are decoded. On the loop, once a request's images hold more than the inline
budget (``INLINE_PARSE_PIXELS``), the charge raises :class:`ParseOffLoop`; the server then
parses the whole request again on the :class:`ParsePool`, where the only limit is the
request's own (``max_request_pixels``, a :class:`PayloadTooLarge`). Bodies over
``INLINE_PARSE_BYTES`` go to the pool before their JSON is decoded.

An image at the pixel limit decodes in most of a second; on the loop, a few of them made the
liveness probe wait long enough for a kubelet to restart the pod. On the pool the decoder
(Pillow) releases the GIL, and the loop keeps answering. The pool is bounded twice: in
threads (``PARSE_WORKERS``) and in requests waiting for one (``PARSE_BACKLOG``; more are
refused 429, as a full batch queue is).

The budget lives in a thread-local: the loop's thread and each pool thread parse one request
at a time, and models need no extra argument. Outside :func:`parse_inline` and the pool (a
model used on its own) nothing is charged.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from modelserve.common.errors import Overloaded, PayloadTooLarge

__all__ = ["ParseOffLoop", "ParsePool", "charge_pixels", "parse_inline"]

_T = TypeVar("_T")


class ParseOffLoop(Exception):  # a signal that steers the parse, not an error
    """Raised on the event loop by :func:`charge_pixels`: this request is too costly to parse
    there. Never reaches a client; the server parses the request on the pool instead."""


class _Budget:
    __slots__ = ("active", "inline_left", "used")

    def __init__(self) -> None:
        self.active = False  # inside parse_inline or a pool job
        self.inline_left: float = math.inf  # pixels the loop may still decode for this request
        self.used = 0  # pixels charged for this request


class _PerThread(threading.local):
    # One lookup in the thread-local a call, then plain slots: each thread-local attribute
    # access costs as much as the whole check.
    def __init__(self) -> None:
        self.budget = _Budget()


_local = _PerThread()


def charge_pixels(pixels: int, field: str, request_limit: int) -> None:
    """Account ``pixels`` about to be decoded for ``field``; raise :class:`PayloadTooLarge`
    past ``request_limit`` for the request, :class:`ParseOffLoop` past the loop's budget."""
    b = _local.budget
    if not b.active:
        return
    b.used += pixels
    if b.used > request_limit:
        raise PayloadTooLarge(
            f"the request's images hold {b.used} pixels; at most {request_limit} a request",
            field=field,
        )
    b.inline_left -= pixels
    if b.inline_left < 0:
        raise ParseOffLoop


def parse_inline(inline_pixels: int, fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)`` on this thread (the loop) within an inline budget of ``inline_pixels``."""
    b = _local.budget
    b.active, b.inline_left, b.used = True, inline_pixels, 0
    try:
        return fn(*args)
    finally:
        b.active = False


def _in_pool(fn: Callable[..., _T], *args: Any) -> _T:
    b = _local.budget
    b.active, b.inline_left, b.used = True, math.inf, 0
    try:
        return fn(*args)
    finally:
        b.active = False


class ParsePool:
    """``workers`` threads, and at most ``backlog`` requests waiting for one."""

    def __init__(self, workers: int, backlog: int) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="parse")
        self._workers = workers
        self._backlog = backlog
        self._lock = threading.Lock()
        self._pending = 0  # submitted, not finished

    def submit(self, fn: Callable[..., _T], *args: Any) -> Future[_T]:
        """Run ``fn(*args)`` on the pool; :class:`Overloaded` (429) when the backlog is full."""
        with self._lock:
            if self._pending >= self._workers + self._backlog:
                raise Overloaded(
                    f"parse queue full ({self._pending - self._workers} requests wait for "
                    f"one of {self._workers} parse threads)",
                    reason="queue_full",
                    retry_after_s=0.1,
                    status=429,
                )
            self._pending += 1
        future = self._pool.submit(_in_pool, fn, *args)
        future.add_done_callback(self._done)
        return future

    def _done(self, _: Future[Any]) -> None:
        with self._lock:
            self._pending -= 1

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
