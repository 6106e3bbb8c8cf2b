"""Dynamic batching: one inference thread per replica, a bounded queue, deadline shedding.

Requests parse their items before queueing them (so a bad input fails alone), then
:meth:`Batcher.submit` queues them. The inference thread takes the oldest item, waits up to
``max_queue_delay`` for batch-mates (never past ``max_batch_size``), runs one forward pass
and hands every result back to the event loop in one callback.

Admission: a request is refused before queueing when the queue cannot hold its items
(429 ``queue_full``), when its predicted wait exceeds its deadline (503 ``deadline``; the
wait is predicted from the queue depth and the observed per-batch time), or when the
replica is shutting down (503 ``draining``). If a forward pass raises, its items are
retried one at a time so only the bad one fails.

Stopping (:meth:`Batcher.stop`, at the drain deadline): the thread goes on taking batches
until the deadline; then the queue is emptied (its items answered :class:`DrainCutOff`), so
the thread stops between batches, and a running pass is interrupted where the model can do
that (:class:`~modelserve.common.model.Interruptible`: ONNX Runtime's terminate flag). A pass
that does not return within the grace is abandoned: its items are answered too, and the
thread is registered with :func:`~modelserve.common.lifecycle.abandon_thread`, so that
``msai serve`` exits without the interpreter's finalisation, which a native library still
running in that thread cannot survive (ONNX Runtime aborts the process).

An optional pass-time budget (``max_batch_s``, off by default) caps the batch further at
the size whose predicted forward pass fits it (per-item time learned as it runs): on a GPU,
where an item costs microseconds, batches stay large; on a CPU, where a BERT item costs
~10 ms, a batch of 16 holds every member for 160 ms+ for little throughput gain. With a
backlog (more than twice the capped size queued) batches go back to full size: the budget is
for latency at moderate load, never a throughput limit under overload.

One thread, not a pool: on a few cores a thread per request oversubscribes the CPU and the
model's own intra-op threads already use every core (FIELD-NOTES, micro-batching).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from modelserve.common.errors import DrainCutOff, ModelServeError, Overloaded
from modelserve.common.lifecycle import abandon_thread
from modelserve.common.metrics import ServerMetrics

__all__ = ["BatchSettings", "Batcher"]

In = TypeVar("In")
Out = TypeVar("Out")

_log = logging.getLogger("modelserve.batching")
_EWMA = 0.2  # weight of the newest batch in the per-batch time estimate


@dataclass(frozen=True)
class BatchSettings:
    max_batch_size: int = 16
    max_queue_delay_s: float = 0.005
    queue_capacity: int = 256
    max_batch_s: float = 0.0  # pass-time budget; 0: batches are capped by size only


@dataclass(eq=False)
class _Item(Generic[In]):
    value: In
    enqueued: float
    deadline: float
    future: asyncio.Future[Any]
    abandoned: bool = False  # the request went away (client gone, shutdown deadline)


@dataclass
class _Stats:
    batch_s: float | None = None  # EWMA of one forward pass
    item_s: float | None = None  # EWMA of a pass's time per item (an upper bound)
    batches: int = 0
    items: int = 0
    retries: int = 0
    expired: int = 0
    sizes: dict[int, int] = field(default_factory=dict)


class Batcher(Generic[In, Out]):
    """Queue + one inference thread around ``predict`` (a batched forward pass)."""

    def __init__(
        self,
        predict: Callable[[Sequence[In]], list[Out]],
        settings: BatchSettings,
        metrics: ServerMetrics,
        before_batch: Callable[[int], None] | None = None,
        interrupt: Callable[[], bool] | None = None,
    ) -> None:
        self._predict = predict
        self._interrupt = interrupt  # stops a running forward pass; False: cannot
        self.settings = settings
        self._metrics = metrics
        self._before_batch = before_batch  # fault hooks: latency, hang, error inside the thread
        self._queue: deque[_Item[In]] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._cutting = False  # past the drain deadline: a failed pass is cut off, not retried
        self._running: list[_Item[In]] = []  # the batch the thread holds now
        self.cut_off_items = 0  # answered DrainCutOff (read after stop)
        self._in_flight = 0  # items taken by the thread, not yet answered
        self.busy_since: float | None = None
        self.stats = _Stats()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        # Published once started: stop() may run meanwhile (SIGTERM while the model loads),
        # and a thread not yet started cannot be joined. Started after stop(), it finds
        # nothing to take and ends.
        thread = threading.Thread(target=self._run, name="inference", daemon=True)
        thread.start()
        self._thread = thread

    def stop(self, timeout: float, grace: float = 0.0) -> bool:
        """Refuse new work; let queued work run for ``timeout`` s; then cut off the rest.

        Queued items are answered :class:`DrainCutOff` at once; a running pass is
        interrupted (when the model can) and has ``grace`` s more to return. Returns whether
        the inference thread has stopped; when it has not, it is abandoned and its items are
        answered. :attr:`cut_off_items` counts the items cut off."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._cond:
            self._cutting = True
            left = list(self._queue)
            self._queue.clear()
            running = bool(self._running) and self._thread_alive()
        self._cut(left, "shut down before inference")
        if running and self._interrupt is not None and self._interrupt():
            _log.warning("drain deadline: forward pass interrupted")
        if self._thread is not None:
            self._thread.join(grace)
        if not self._thread_alive():
            return True
        with self._cond:
            stuck = self._running
            self._running = []
        self._cut(stuck, "drain deadline passed during the forward pass")
        if self._thread is not None:
            abandon_thread(self._thread)
        return False

    def _cut(self, items: list[_Item[In]], why: str) -> None:
        for item in items:
            self._resolve(item, None, DrainCutOff(why))
        self.cut_off_items += len(items)

    def _thread_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def batch_limit(self) -> int:
        """Largest batch now: the size cap, lowered to fit the pass-time budget."""
        s = self.settings
        per_item = self.stats.item_s
        if s.max_batch_s <= 0 or not per_item:
            return s.max_batch_size
        return max(1, min(s.max_batch_size, int(s.max_batch_s / per_item)))

    @property
    def pending(self) -> int:
        """Items queued plus items in the forward pass now (the HPA metric)."""
        return len(self._queue) + self._in_flight

    # -- admission -----------------------------------------------------------------------
    def predicted_wait(self, n: int) -> float:
        """Seconds until ``n`` new items would be answered, from queue depth and batch time."""
        per_batch = self.stats.batch_s
        if per_batch is None:
            return 0.0
        limit = self.batch_limit
        batches = math.ceil((len(self._queue) + n) / limit)
        if self._in_flight:
            batches += 1
        return batches * per_batch

    def admit(self, n: int, deadline_s: float) -> None:
        """Raise :class:`Overloaded` (and count the shed) if ``n`` items with ``deadline_s``
        left would be refused now. :meth:`submit` calls it; the server also calls it for one
        item before it parses a request, so that under overload a refusal costs a check
        instead of a parse (JSON, base64, image decoding) whose result is thrown away."""
        if self._stopping:
            self._metrics.shed_one("draining")
            raise Overloaded(
                "replica is shutting down", reason="draining", retry_after_s=1.0, status=503
            )
        cap = self.settings.queue_capacity
        if len(self._queue) + n > cap:
            self._metrics.shed_one("queue_full")
            raise Overloaded(
                f"queue full ({len(self._queue)} of {cap} items queued)",
                reason="queue_full",
                retry_after_s=max(self.predicted_wait(0), 0.001),
                status=429,
            )
        wait = self.predicted_wait(n)
        if wait > deadline_s:
            self._metrics.shed_one("deadline")
            raise Overloaded(
                f"predicted wait {wait * 1000:.0f} ms exceeds the deadline "
                f"{deadline_s * 1000:.0f} ms",
                reason="deadline",
                retry_after_s=wait - deadline_s,
                status=503,
            )

    async def submit(self, values: Sequence[In], deadline_s: float) -> list[Out]:
        """Queue ``values`` (one request's items) and wait for their outputs, in order.

        ``deadline_s`` is the time budget from now. Raises :class:`Overloaded` when refused;
        an item whose forward pass failed raises its own error, with ``item_index`` set to
        the item's position in ``values``.
        """
        items = self._enqueue(values, deadline_s)
        try:
            if len(items) == 1:  # the usual case; gather's wrapper future costs more than the wait
                try:
                    results: list[Any] = [await items[0].future]
                except Exception as exc:
                    results = [exc]
            else:
                results = await asyncio.gather(*(i.future for i in items), return_exceptions=True)
        except BaseException:
            _abandon(items)
            raise
        return _outputs(results)

    def submit_callback(
        self,
        values: Sequence[In],
        deadline_s: float,
        done: Callable[[list[Out] | None, Exception | None], None],
    ) -> None:
        """:meth:`submit` without a coroutine: ``done(outputs, None)`` or ``done(None, error)``
        is called on the event loop once every item is answered, with what :meth:`submit`
        would return or raise. Raises at once when refused."""
        items = self._enqueue(values, deadline_s)
        left = len(items)

        # These futures stay here and are never cancelled (only submit's _abandon cancels),
        # so each ends with a result or an exception.
        def one(_: asyncio.Future[Any]) -> None:
            nonlocal left
            left -= 1
            if left:
                return
            results = [i.future.exception() or i.future.result() for i in items]
            try:
                outs = _outputs(results)
            except Exception as exc:
                done(None, exc)
                return
            done(outs, None)

        for item in items:
            item.future.add_done_callback(one)

    def _enqueue(self, values: Sequence[In], deadline_s: float) -> list[_Item[In]]:
        n = len(values)
        self.admit(n, deadline_s)
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        items = [_Item(v, now, now + deadline_s, loop.create_future()) for v in values]
        with self._cond:
            was_empty = not self._queue
            self._queue.extend(items)
            # Wake the thread only when it can act: it waits for a first item, then for a
            # full batch or the delay (a timed wait). Needless wake-ups cost a GIL hand-off.
            if was_empty or len(self._queue) >= self.batch_limit:
                self._cond.notify()
        # The pending gauge is not set here, once a request: /metrics sets it before each
        # scrape (and the inference thread after each batch), which is when it is read.
        return items

    # -- the inference thread ------------------------------------------------------------
    def _take_batch(self) -> list[_Item[In]] | None:
        s = self.settings
        with self._cond:
            while not self._queue:
                if self._stopping:
                    return None
                self._cond.wait()
            first = self._queue[0]
            limit = self.batch_limit
            while len(self._queue) < limit and not self._stopping:
                left = first.enqueued + s.max_queue_delay_s - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if len(self._queue) > 2 * limit:
                # A backlog: the budget would only add passes (and, on a contended CPU where
                # passes look slow, shrink batches as the backlog grows). Drain at full size.
                limit = s.max_batch_size
            batch: list[_Item[In]] = []
            while self._queue and len(batch) < limit:
                batch.append(self._queue.popleft())
            self._in_flight = len(batch)
            self._running = batch
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            try:
                self._run_batch(batch)
            except BaseException as exc:  # never let the one inference thread die
                _log.exception("inference thread error")
                err = ModelServeError(f"inference thread error: {type(exc).__name__}")
                for item in batch:
                    self._resolve(item, None, err)
            finally:
                with self._cond:
                    self._in_flight = 0
                    self._running = []
                self.busy_since = None
                self._metrics.set_pending(self.pending)

    def _run_batch(self, batch: list[_Item[In]]) -> None:
        start = time.monotonic()
        live: list[_Item[In]] = []
        for item in batch:
            if item.abandoned:
                continue
            if item.deadline < start:
                self.stats.expired += 1
                self._resolve(
                    item,
                    None,
                    Overloaded(
                        "deadline passed while queued",
                        reason="deadline",
                        retry_after_s=0.1,
                        status=503,
                    ),
                )
                continue
            live.append(item)
        if not live:
            return
        self.busy_since = start
        if self._before_batch is not None:
            try:
                self._before_batch(len(live))
            except Exception as exc:
                for item in live:
                    self._resolve(item, None, exc)
                return
        t0 = time.monotonic()
        try:
            outs = self._predict([i.value for i in live])
            if len(outs) != len(live):
                raise ModelServeError(f"model returned {len(outs)} outputs for {len(live)} items")
        except Exception as exc:
            if self._cutting:  # interrupted at the drain deadline: no retries
                self._cut_taken(live)
                return
            _log.warning("batch of %d failed (%s); retrying items singly", len(live), exc)
            self.stats.retries += 1
            self._run_singly(live)
            return
        elapsed = time.monotonic() - t0
        self._observe(live, t0, elapsed)
        self._deliver(live, outs)

    def _cut_taken(self, items: list[_Item[In]]) -> None:
        """Cut off items this thread holds, unless :meth:`stop` has abandoned them already."""
        with self._cond:
            if not self._running:  # abandoned by stop, which answered them
                return
            self._running = []
        self._cut(items, "drain deadline passed during the forward pass")

    def _run_singly(self, items: list[_Item[In]]) -> None:
        for n, item in enumerate(items):
            if self._cutting:
                self._cut_taken(items[n:])
                return
            t0 = time.monotonic()
            try:
                (out,) = self._predict([item.value])
            except ModelServeError as exc:
                self._resolve(item, None, exc)
                continue
            except Exception as exc:
                err = ModelServeError(f"inference failed: {type(exc).__name__}: {exc}")
                self._resolve(item, None, err)
                continue
            self._observe([item], t0, time.monotonic() - t0)
            self._resolve(item, out, None)

    def _observe(self, items: list[_Item[In]], t0: float, elapsed: float) -> None:
        st = self.stats
        st.batch_s = elapsed if st.batch_s is None else (1 - _EWMA) * st.batch_s + _EWMA * elapsed
        per = elapsed / len(items)
        st.item_s = per if st.item_s is None else (1 - _EWMA) * st.item_s + _EWMA * per
        st.batches += 1
        st.items += len(items)
        st.sizes[len(items)] = st.sizes.get(len(items), 0) + 1
        self._metrics.observe_batch(len(items), elapsed, [t0 - i.enqueued for i in items])

    def _deliver(self, items: list[_Item[In]], outs: list[Out]) -> None:
        _call_in_loop(items[0].future, _set_results, items, outs)

    def _resolve(self, item: _Item[In], out: Any, exc: BaseException | None) -> None:
        if exc is None:
            _call_in_loop(item.future, _set_results, [item], [out])
        else:
            _call_in_loop(item.future, _set_error, item, exc)


def _call_in_loop(future: asyncio.Future[Any], fn: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: the request is gone already
        future.get_loop().call_soon_threadsafe(fn, *args)


def _set_results(items: list[_Item[Any]], outs: list[Any]) -> None:
    for item, out in zip(items, outs, strict=True):
        if not item.future.done():
            item.future.set_result(out)


def _set_error(item: _Item[Any], exc: BaseException) -> None:
    if not item.future.done():
        item.future.set_exception(exc)


def _abandon(items: Sequence[_Item[Any]]) -> None:
    for item in items:
        item.abandoned = True
        if not item.future.done():
            item.future.cancel()


def _outputs(results: Sequence[Any]) -> list[Any]:
    """The outputs, in order; the first failed item's error raised, naming its index."""
    for index, result in enumerate(results):
        if isinstance(result, BaseException):
            result.item_index = index  # type: ignore[attr-defined]  # the app names the field
            raise result
    return list(results)
