"""One step call: HTTP to a model service (or a built-in step), with retries and deadlines.

Retry policy: only 5xx answers and connection errors (refused, reset, broken protocol) are
tried again, with exponential backoff and jitter, never past the run's deadline. A 4xx is the
request's fault and a timeout means the step is too slow for its budget: neither is retried.

Headers sent with every attempt (model services may use them):

    Idempotency-Key        {run}:{step}, the same on every attempt and on every replica, so a
                           service can answer a repeat from its cache instead of applying twice
    X-Request-Id           {run}:{step}:{attempt}
    X-Request-Deadline-Ms  what is left of the run's deadline (or the step's timeout, if
                           shorter) when the attempt is sent, in ms; the model servers shed
                           work they cannot finish in time (modelserve.common.app)
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from modelserve.common.errors import ModelServeError
from modelserve.orchestrator.spec import CallStep

__all__ = ["BuiltinFn", "CallOutcome", "StepCaller", "backoff_delay", "should_retry"]

BuiltinFn = Callable[[Any, float], Awaitable[Any]]
"""A built-in step: ``(rendered input, deadline) -> output``; raises ModelServeError."""

# Refused, reset, closed mid-answer, broken protocol, and a connect that timed out: the
# request may not have reached the service (or its answer was lost), so trying again helps.
# aiohttp rather than httpx: a step call costs a third of the CPU, and calls are the bulk of
# the orchestrator's own work (msai bench orchestrator).
_CONNECTION_ERRORS = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
)


@dataclass(frozen=True)
class CallOutcome:
    ok: bool
    result: Any
    attempts: int
    latency_s: float
    """Wall time of the step: first attempt to outcome, backoff included."""
    error: str = ""
    status: int | None = None
    """Last HTTP status (None after a connection error or a timeout)."""
    deadline_hit: bool = False
    """The run's deadline, not the step's own timeout, ended the call. Set from the attempt's
    budget, not by reading the clock afterwards: the event loop may fire a timer up to its
    clock resolution early, so the wall clock can still be a hair short of the deadline."""


def should_retry(status: int | None, exc: BaseException | None) -> bool:
    """5xx and connection errors only; never 4xx, never a timeout waiting for the answer."""
    if exc is not None:
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return True  # never connected: nothing was sent
        if isinstance(exc, TimeoutError):
            return False  # the step is slower than its budget
        return isinstance(exc, _CONNECTION_ERRORS)
    return status is not None and status >= 500


def backoff_delay(step: CallStep, attempt: int, rng: random.Random) -> float:
    """Wait before attempt ``attempt + 1``: doubling from ``backoff_s``, capped, half jitter."""
    base = min(step.retry.max_backoff_s, step.retry.backoff_s * (2 ** (attempt - 1)))
    return float(base / 2 + rng.uniform(0, base / 2))


def _error_text(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw[:200].decode("utf-8", "replace")
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return str(body)[:200]


class StepCaller:
    """Calls steps. ``services`` maps service names to base URLs."""

    def __init__(
        self,
        client: aiohttp.ClientSession,
        services: dict[str, str],
        builtins: dict[str, BuiltinFn],
        *,
        seed: int | None = None,
    ) -> None:
        self.client = client
        self.services = {k: v.rstrip("/") for k, v in services.items()}
        self.builtins = builtins
        self.rng = random.Random(seed)

    async def call(
        self,
        step: CallStep,
        payload: Any,
        deadline: float,
        key: str,
        on_retry: Callable[[], None] | None = None,
    ) -> CallOutcome:
        """Call ``step`` until it succeeds, fails for good, or the deadline passes."""
        t0 = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            left = deadline - time.time()
            if left <= 0:
                return CallOutcome(
                    False,
                    None,
                    attempt - 1,
                    time.perf_counter() - t0,
                    "run deadline passed before the attempt",
                    deadline_hit=True,
                )
            status, result, error, exc = await self._attempt(
                step, payload, deadline, left, key, attempt
            )
            if error == "":
                return CallOutcome(True, result, attempt, time.perf_counter() - t0, status=status)
            retry = should_retry(status, exc) and attempt < step.retry.attempts
            delay = backoff_delay(step, attempt, self.rng) if retry else 0.0
            if not retry or time.time() + delay >= deadline:
                # A timeout whose budget was what was left of the run's is the run's deadline.
                hit = isinstance(exc, TimeoutError) and left < step.timeout_s
                return CallOutcome(
                    False, None, attempt, time.perf_counter() - t0, error, status, hit
                )
            if on_retry is not None:
                on_retry()
            await asyncio.sleep(delay)

    async def _attempt(
        self, step: CallStep, payload: Any, deadline: float, left: float, key: str, attempt: int
    ) -> tuple[int | None, Any, str, BaseException | None]:
        """(status, result, error text or "", exception) of one attempt."""
        timeout = min(step.timeout_s, left)
        if step.builtin is not None:
            fn = self.builtins.get(step.builtin)
            if fn is None:
                return None, None, f"built-in step {step.builtin!r} is not available here", None
            try:
                out = await asyncio.wait_for(
                    fn(payload, min(deadline, time.time() + timeout)), timeout
                )
            except TimeoutError as exc:
                return None, None, f"built-in {step.builtin} timed out after {timeout:.3f}s", exc
            except ModelServeError as exc:
                return exc.status, None, exc.message, None
            return 200, out, "", None
        base = self.services.get(step.service or "")
        if base is None:
            return (
                None,
                None,
                f"service {step.service!r} is not configured (MSAI_ORCH_SERVICES)",
                None,
            )
        headers = {
            "Idempotency-Key": key,
            "X-Request-Id": f"{key}:{attempt}",
            "X-Request-Deadline-Ms": str(max(1, int(timeout * 1000))),
            "Content-Type": "application/json",
        }
        try:
            async with self.client.post(
                base + step.path,
                data=json.dumps(payload, separators=(",", ":")),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                status, raw = resp.status, await resp.read()
        except TimeoutError as exc:
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                return None, None, f"{step.service}: connect timeout: {exc}", exc
            return None, None, f"{step.service}: no answer within {timeout:.3f}s", exc
        except aiohttp.ClientError as exc:
            return None, None, f"{step.service}: {type(exc).__name__}: {exc}", exc
        if status >= 400:
            return status, None, f"{step.service} answered {status}: {_error_text(raw)}", None
        try:
            return status, json.loads(raw), "", None
        except ValueError:
            return status, None, f"{step.service} answered {status} without JSON", None
