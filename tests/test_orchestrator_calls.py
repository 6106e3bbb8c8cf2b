"""StepCaller's outcome: which timeout ended a call (the run's deadline or the step's own)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from modelserve.orchestrator.calls import CallOutcome, StepCaller
from modelserve.orchestrator.spec import CallStep


async def _never(payload: Any, deadline: float) -> Any:
    await asyncio.sleep(60)


def _call(step_timeout_s: float, run_budget_s: float) -> CallOutcome:
    async def go() -> CallOutcome:
        async with aiohttp.ClientSession() as client:
            caller = StepCaller(client, {}, {"never": _never}, seed=0)
            step = CallStep(name="s", input={}, builtin="never", timeout_s=step_timeout_s)
            return await caller.call(step, {}, time.time() + run_budget_s, "run:s")

    return asyncio.run(go())


def test_a_timeout_bounded_by_the_run_deadline_is_the_deadline() -> None:
    # The engine answers 504 from this flag: the wall clock read after the timer fired can
    # still be a hair short of the deadline (timers fire up to a clock resolution early).
    out = _call(step_timeout_s=5.0, run_budget_s=0.1)
    assert not out.ok
    assert out.deadline_hit
    assert "timed out" in out.error


def test_the_steps_own_timeout_is_a_step_failure() -> None:
    out = _call(step_timeout_s=0.1, run_budget_s=5.0)
    assert not out.ok
    assert not out.deadline_hit
    assert out.attempts == 1


def test_no_budget_left_is_the_deadline_without_an_attempt() -> None:
    out = _call(step_timeout_s=5.0, run_budget_s=-0.01)
    assert out.deadline_hit
    assert out.attempts == 0
