"""Run and step state in a real Redis: atomic claims, leases, fencing of a replica that lost
its lease, the history outbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from modelserve.orchestrator.errors import RunNotFound, StateUnavailable
from modelserve.orchestrator.state import StateStore

from harness.ports import free_port
from tests import _orch_support as support

redis_server, redis_url = support.redis_server, support.redis_url


def run(redis_url: str, body: Callable[[StateStore], Awaitable[None]]) -> None:
    async def main() -> None:
        store = StateStore(redis_url)
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def test_lease_claim_and_fencing(redis_url: str) -> None:
    async def body(s: StateStore) -> None:
        await s.create_run("r1", "p", {"x": 1}, time.time() + 60, "A", lease_ms=300)
        assert await s.claim_run("r1", "B", 300) == "held"  # A's lease is valid
        assert await s.expired_runs() == []
        claim = await s.claim_step("r1", "a", "A", 300)
        assert claim.outcome == "claimed"
        assert claim.meta["claims"] == 1
        await asyncio.sleep(0.4)  # A stops renewing: the lease passes
        assert await s.expired_runs() == ["r1"]
        assert await s.claim_run("r1", "B", 5000) == "ok"
        # A wakes up: every write it tries is refused, so it cannot overwrite B's state
        assert not await s.heartbeat("r1", "A", 300)
        assert not await s.finish_step(
            "r1", "a", "A", ok=True, result={"v": "stale"}, attempts=1, latency_s=0.1
        )
        assert (await s.claim_step("r1", "a", "A", 300)).outcome == "lost"
        # B re-claims the step A left running (its lease expired with the run's)
        again = await s.claim_step("r1", "a", "B", 5000)
        assert again.outcome == "claimed"
        assert again.meta["claims"] == 2
        assert await s.finish_step(
            "r1", "a", "B", ok=True, result={"v": [1, []]}, attempts=1, latency_s=0.1
        )
        done = await s.claim_step("r1", "a", "B", 5000)
        assert done.outcome == "done"
        assert done.result == {"v": [1, []]}  # stored verbatim (empty lists stay lists)
        assert not await s.finish_run(
            "r1", "A", ok=True, result=None, error=None, overhead_s=0, ttl_s=60
        )
        assert await s.finish_run(
            "r1", "B", ok=True, result={"ok": 1}, error=None, overhead_s=0.001, ttl_s=60
        )
        assert await s.claim_run("r1", "C", 300) == "succeeded"
        rec = await s.get_run("r1")
        assert rec.status == "succeeded"
        assert rec.claims == 2
        assert rec.steps is not None
        assert rec.steps["a"]["attempts"] == 1
        assert await s.history_peek() == ["r1"]
        await s.history_done("r1")
        assert await s.history_peek() == []
        assert await s.expired_runs() == []

    run(redis_url, body)


def test_a_live_owner_holds_its_step(redis_url: str) -> None:
    async def body(s: StateStore) -> None:
        await s.create_run("r2", "p", {}, time.time() + 60, "A", lease_ms=10_000)
        assert (await s.claim_step("r2", "a", "A", 10_000)).outcome == "claimed"
        # Ownership moves (an operator or a test forcing it); A's step lease is still live.
        await s.redis.hset("orch:run:r2", "owner", "B")
        assert (await s.claim_step("r2", "a", "B", 10_000)).outcome == "held"

    run(redis_url, body)


def test_unknown_run_and_listing(redis_url: str) -> None:
    async def body(s: StateStore) -> None:
        with pytest.raises(RunNotFound):
            await s.get_run("nope")
        for i in range(3):
            await s.create_run(f"l{i}", "p" if i < 2 else "q", {}, time.time() + 60, "A", 1000)
        assert [r.id for r in await s.list_runs(limit=10)] == ["l2", "l1", "l0"]
        assert [r.id for r in await s.list_runs(limit=10, pipeline="p")] == ["l1", "l0"]
        assert await s.list_runs(limit=10, status="failed") == []
        await s.redis.delete("orch:run:l1")  # as if its TTL passed
        assert [r.id for r in await s.list_runs(limit=10)] == ["l2", "l0"]
        assert await s.redis.zscore("orch:runs", "l1") is None  # dropped from the index
        got = await s.get_runs(["l0", "l1", "l2"], with_steps=False)
        assert sorted(got) == ["l0", "l2"]

    run(redis_url, body)


def test_no_redis_is_a_clear_503() -> None:
    async def body() -> None:
        store = StateStore(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.5)
        try:
            with pytest.raises(StateUnavailable, match=r"Redis at redis://127\.0\.0\.1:\d+/0"):
                await store.create_run("x", "p", {}, time.time() + 5, "A", 1000)
        finally:
            await store.close()

    t0 = time.perf_counter()
    asyncio.run(body())
    assert time.perf_counter() - t0 < 3
