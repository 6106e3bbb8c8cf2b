"""Dynamic batching: batch forming, bounded queue, deadline shedding, bad items alone."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from modelserve.common.app import parse_deadline
from modelserve.common.batching import Batcher, BatchSettings
from modelserve.common.errors import BadInput, DrainCutOff, ModelServeError, Overloaded
from modelserve.common.lifecycle import abandoned_threads
from modelserve.common.metrics import ServerMetrics
from modelserve.common.testing import FakeModel, FakeSettings


def _batcher(model: Any, **kw: Any) -> tuple[Batcher[Any, Any], ServerMetrics]:
    metrics = ServerMetrics("m")
    b: Batcher[Any, Any] = Batcher(model.predict, BatchSettings(**kw), metrics)
    b.start()
    return b, metrics


def _shed(metrics: ServerMetrics, reason: str) -> float:
    return metrics.shed.labels("m", reason)._value.get()  # type: ignore[no-any-return]


def test_concurrent_requests_share_forward_passes() -> None:
    model = FakeModel(FakeSettings(batch_cost_ms=5, item_cost_ms=0))
    b, _metrics = _batcher(model, max_batch_size=8, max_queue_delay_s=0.01)

    async def main() -> list[list[Any]]:
        return await asyncio.gather(*(b.submit([f"t{i}"], 2.0) for i in range(20)))

    outs = asyncio.run(main())
    assert [o[0].text for o in outs] == [f"T{i}" for i in range(20)]
    assert max(model.batches) == 8  # never above the max batch size
    assert len(model.batches) < 10  # 20 items in a few passes (3 when nothing interferes)
    assert sum(model.batches) == 20
    assert b.stop(1.0)
    assert b.cut_off_items == 0


def test_pass_time_budget_keeps_batches_small_when_items_are_costly() -> None:
    # 10 ms per item, 30 ms budget, arrivals every 15 ms (no backlog): at most 3 per pass.
    model = FakeModel(FakeSettings(batch_cost_ms=0, item_cost_ms=10))
    b, _ = _batcher(model, max_batch_size=16, max_queue_delay_s=0.02, max_batch_s=0.03)

    async def main() -> None:
        tasks = []
        for i in range(20):
            tasks.append(asyncio.ensure_future(b.submit([f"{i}"], 10.0)))
            await asyncio.sleep(0.015)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert max(model.batches[1:]) <= 3
    assert 2 <= b.batch_limit <= 3  # sleeps overshoot a little
    b.stop(1.0)


def test_a_backlog_is_drained_at_full_batch_size_despite_the_budget() -> None:
    gate = threading.Event()
    sizes: list[int] = []

    class Costly:
        def predict(self, batch: Sequence[str]) -> list[str]:
            gate.wait(5)
            time.sleep(0.01 * len(batch))  # 10 ms per item: the budget allows 2
            sizes.append(len(batch))
            return list(batch)

    b, _ = _batcher(Costly(), max_batch_size=8, max_queue_delay_s=0.001, max_batch_s=0.02)

    async def main() -> None:
        gate.set()
        await b.submit(["warm"], 10.0)  # learn ~10 ms per item
        gate.clear()
        first = asyncio.ensure_future(b.submit(["blocker"], 10.0))
        await asyncio.sleep(0.05)  # the blocker holds the thread; a backlog builds
        rest = [asyncio.ensure_future(b.submit([f"{i}"], 10.0)) for i in range(16)]
        await asyncio.sleep(0.01)
        gate.set()
        await asyncio.gather(first, *rest)

    asyncio.run(main())
    assert b.batch_limit <= 2
    assert max(sizes[2:]) == 8  # the backlog went through in full batches


def test_cheap_items_keep_the_full_batch_under_the_budget() -> None:
    model = FakeModel(FakeSettings(batch_cost_ms=0, item_cost_ms=0.1))
    b, _ = _batcher(model, max_batch_size=8, max_queue_delay_s=0.01, max_batch_s=0.05)

    async def main() -> None:
        await asyncio.gather(*(b.submit([f"{i}"], 10.0) for i in range(24)))

    asyncio.run(main())
    assert b.batch_limit == 8
    b.stop(1.0)


def test_max_queue_delay_bounds_the_wait_for_batch_mates() -> None:
    model = FakeModel(FakeSettings(batch_cost_ms=0, item_cost_ms=0))
    b, _ = _batcher(model, max_batch_size=64, max_queue_delay_s=0.05)

    async def main() -> float:
        t0 = time.perf_counter()
        await b.submit(["only"], 2.0)
        return time.perf_counter() - t0

    waited = asyncio.run(main())
    assert 0.04 <= waited < 0.5
    b.stop(1.0)


def test_a_bad_item_fails_alone_and_its_batch_mates_succeed() -> None:
    model = FakeModel(FakeSettings(batch_cost_ms=1, item_cost_ms=0))
    b, _ = _batcher(model, max_batch_size=16, max_queue_delay_s=0.02)

    async def main() -> list[Any]:
        texts = ["a", "b", "poison!", "c", "d"]
        return await asyncio.gather(*(b.submit([t], 2.0) for t in texts), return_exceptions=True)

    results = asyncio.run(main())
    assert [r[0].text for i, r in enumerate(results) if i != 2] == ["A", "B", "C", "D"]
    assert isinstance(results[2], ModelServeError)
    assert "poison" in str(results[2])
    assert model.batches[0] == 5  # they really shared the failed pass
    assert b.stats.retries == 1
    b.stop(1.0)


def test_submit_callback_answers_as_submit_does() -> None:
    model = FakeModel(FakeSettings(batch_cost_ms=1, item_cost_ms=0))
    b, metrics = _batcher(model, max_batch_size=16, max_queue_delay_s=0.01, queue_capacity=8)

    async def main() -> list[tuple[Any, Any]]:
        loop = asyncio.get_running_loop()
        got: list[tuple[Any, Any]] = []
        finished = loop.create_future()

        def done(outs: Any, exc: Any) -> None:
            got.append((outs, exc))
            if len(got) == 2:
                finished.set_result(None)

        b.submit_callback(["a", "b", "c"], 2.0, done)  # outputs in order
        b.submit_callback(["x", "poison!"], 2.0, done)  # the failed item's own error
        with pytest.raises(Overloaded):  # refused at once, like submit: 9 > 8 whatever is queued
            b.submit_callback([str(i) for i in range(9)], 2.0, done)
        await asyncio.wait_for(finished, 5)
        return got

    got = asyncio.run(main())
    (outs, none), (nothing, err) = got if got[0][0] else got[::-1]
    assert none is None
    assert [o.text for o in outs] == ["A", "B", "C"]
    assert nothing is None
    assert isinstance(err, ModelServeError)
    assert err.item_index == 1  # type: ignore[attr-defined]
    assert _shed(metrics, "queue_full") == 1
    b.stop(1.0)


def test_model_errors_keep_their_type_when_retried_singly() -> None:
    class Picky:
        def predict(self, batch: Sequence[str]) -> list[str]:
            if "bad" in batch:
                raise BadInput("model refused it", field="x")
            return list(batch)

    b, _ = _batcher(Picky(), max_batch_size=4, max_queue_delay_s=0.01)

    async def main() -> list[Any]:
        return await asyncio.gather(
            b.submit(["ok"], 1), b.submit(["bad"], 1), return_exceptions=True
        )

    ok, bad = asyncio.run(main())
    assert ok == ["ok"]
    assert isinstance(bad, BadInput)
    b.stop(1.0)


class _Gated:
    """A model whose forward pass blocks until ``gate`` is set (at most 5 s)."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def predict(self, batch: Sequence[str]) -> list[str]:
        self.gate.wait(5)
        return list(batch)


async def _fill(b: Batcher[Any, Any], queued: int) -> list[asyncio.Future[Any]]:
    """One item into the (blocked) forward pass, then ``queued`` more waiting behind it."""
    tasks: list[asyncio.Future[Any]] = [asyncio.ensure_future(b.submit(["0"], 10.0))]
    await asyncio.sleep(0.05)  # taken into the pass
    tasks += [asyncio.ensure_future(b.submit([f"{i}"], 10.0)) for i in range(1, queued + 1)]
    await asyncio.sleep(0.05)
    return tasks


def test_queue_full_sheds_429_with_retry_after() -> None:
    model = _Gated()
    b, metrics = _batcher(model, max_batch_size=1, max_queue_delay_s=0, queue_capacity=3)

    async def main() -> Overloaded:
        tasks = await _fill(b, 3)  # three queued: full
        with pytest.raises(Overloaded) as err:
            await b.submit(["late"], 10.0)
        model.gate.set()
        await asyncio.gather(*tasks)
        return err.value

    exc = asyncio.run(main())
    assert exc.status == 429
    assert exc.reason == "queue_full"
    assert exc.retry_after_s > 0
    assert _shed(metrics, "queue_full") == 1
    b.stop(1.0)


def test_admit_refuses_as_submit_would_and_counts_each_refusal_once() -> None:
    model = _Gated()
    b, metrics = _batcher(model, max_batch_size=1, max_queue_delay_s=0, queue_capacity=2)

    async def main() -> None:
        tasks = await _fill(b, 2)  # two queued: full
        b.admit(0, 10.0)  # nothing more asked: fits
        with pytest.raises(Overloaded) as err:
            b.admit(1, 10.0)
        assert (err.value.status, err.value.reason) == (429, "queue_full")
        model.gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert _shed(metrics, "queue_full") == 1
    b.admit(2, 10.0)  # drained: room again
    b.stop(1.0)
    with pytest.raises(Overloaded) as err:
        b.admit(1, 10.0)
    assert (err.value.status, err.value.reason) == (503, "draining")
    assert _shed(metrics, "draining") == 1


def test_predicted_wait_over_the_deadline_sheds_503() -> None:
    model = FakeModel(FakeSettings(batch_cost_ms=50, item_cost_ms=0))
    b, metrics = _batcher(model, max_batch_size=1, max_queue_delay_s=0)

    async def main() -> tuple[Overloaded, list[Any]]:
        await b.submit(["warm"], 5.0)  # learn the per-batch time (~50 ms)
        backlog = [asyncio.ensure_future(b.submit([f"{i}"], 5.0)) for i in range(6)]
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded) as err:
            await b.submit(["hurry"], 0.1)  # ~6 batches ahead * 50 ms > 100 ms
        fine = await b.submit(["patient"], 5.0)
        await asyncio.gather(*backlog)
        return err.value, fine

    exc, fine = asyncio.run(main())
    assert (exc.status, exc.reason) == (503, "deadline")
    assert exc.retry_after_s > 0
    assert fine[0].text == "PATIENT"
    assert _shed(metrics, "deadline") == 1
    b.stop(1.0)


def test_stop_refuses_new_work_as_draining_and_counts_dropped() -> None:
    gate = threading.Event()

    class Stuck:
        def predict(self, batch: Sequence[str]) -> list[str]:
            gate.wait(5)
            return list(batch)

    b, metrics = _batcher(Stuck(), max_batch_size=1, max_queue_delay_s=0)

    async def main() -> tuple[bool, list[Any]]:
        tasks = [asyncio.ensure_future(b.submit([f"{i}"], 10.0)) for i in range(3)]
        await asyncio.sleep(0.05)
        stopped = await asyncio.to_thread(b.stop, 0.1)  # one stuck in the pass, two queued
        with pytest.raises(Overloaded) as err:
            await b.submit(["new"], 1.0)
        assert err.value.reason == "draining"
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert abandoned_threads() == ["inference"]
        gate.set()
        return stopped, results

    stopped, results = asyncio.run(main())
    # The pass cannot be interrupted: abandoned, and its item answered with the queued two.
    assert not stopped
    assert b.cut_off_items == 3
    assert all(isinstance(r, DrainCutOff) for r in results)
    assert _shed(metrics, "draining") == 1
    b._thread.join(5)  # type: ignore[union-attr]  # released by the gate
    assert abandoned_threads() == []


def test_stop_interrupts_a_running_pass_and_answers_every_item_once() -> None:
    model = FakeModel(FakeSettings(batch_cost_ms=5000, item_cost_ms=0))
    settings = BatchSettings(max_batch_size=2, max_queue_delay_s=0)
    # As ModelServer wires an Interruptible model.
    b: Batcher[Any, Any] = Batcher(
        model.predict, settings, ServerMetrics("m"), None, model.interrupt
    )
    b.start()

    async def main() -> tuple[bool, list[Any], float]:
        tasks = [asyncio.ensure_future(b.submit([f"{i}"], 60.0)) for i in range(5)]
        await asyncio.sleep(0.1)  # two in the pass, three queued
        t0 = time.monotonic()
        stopped = await asyncio.to_thread(b.stop, 0.1, 5.0)
        took = time.monotonic() - t0
        return stopped, await asyncio.gather(*tasks, return_exceptions=True), took

    stopped, results, took = asyncio.run(main())
    assert stopped
    assert took < 1.0  # interrupted, not waited out (the pass takes 5 s)
    assert b.cut_off_items == 5
    assert all(isinstance(r, DrainCutOff) for r in results)
    assert model.batches == []  # no single retries of the interrupted items


def test_expired_items_are_not_run() -> None:
    gate = threading.Event()
    seen: list[str] = []

    class Slow:
        def predict(self, batch: Sequence[str]) -> list[str]:
            seen.extend(batch)
            gate.wait(0.3)
            return list(batch)

    b, _ = _batcher(Slow(), max_batch_size=1, max_queue_delay_s=0)

    async def main() -> list[Any]:
        first = asyncio.ensure_future(b.submit(["first"], 5.0))
        await asyncio.sleep(0.02)
        late = asyncio.ensure_future(b.submit(["short"], 0.05))  # expires while queued
        return await asyncio.gather(first, late, return_exceptions=True)

    first, late = asyncio.run(main())
    assert first == ["first"]
    assert isinstance(late, Overloaded)
    assert late.reason == "deadline"
    assert seen == ["first"]
    b.stop(1.0)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, 2.0),
        ({"x-request-deadline-ms": "250"}, 0.25),
        ({"x-envoy-expected-rq-timeout-ms": "3000"}, 3.0),
        ({"grpc-timeout": "100m"}, 0.1),
        ({"grpc-timeout": "2S"}, 2.0),
        ({"grpc-timeout": "1M"}, 60.0),
    ],
)
def test_deadline_from_headers(headers: dict[str, str], seconds: float) -> None:
    assert parse_deadline(headers, 2.0) == pytest.approx(seconds)
