"""Runs pipelines: accepts runs, executes their steps from Redis state, resumes orphans.

One :class:`Engine` per replica. A run is executed by an asyncio task on the replica that
holds its lease. Around the tasks, two loops:

- heartbeat: renews the leases of this replica's runs (and their running steps) every third
  of the lease; a run whose lease was lost (another replica took it) is cancelled here;
- recovery: claims runs whose lease has expired (their replica died) and executes them from
  their stored state, so no accepted run is lost.

While Redis is unreachable a run waits for it and then re-executes from the stored state
(steps already ``done`` are not called again; a step whose outcome was not stored is called
again with the same idempotency key).

Overhead: end-to-end minus the step latencies on the critical path (a parallel block counts
its slowest branch), i.e. what the orchestrator itself adds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from modelserve.common.errors import BadInput, ModelNotReady, ModelServeError, Overloaded
from modelserve.orchestrator.calls import CallOutcome, StepCaller
from modelserve.orchestrator.errors import (
    DeadlineExceeded,
    PipelineNotFound,
    PipelineUnavailable,
    RunNotFound,
    StateUnavailable,
    StepFailed,
)
from modelserve.orchestrator.mapping import parse_ref, render, resolve
from modelserve.orchestrator.metrics import OrchestratorMetrics
from modelserve.orchestrator.settings import OrchestratorSettings
from modelserve.orchestrator.spec import CallStep, ParallelStep, Pipeline, Step, SwitchStep
from modelserve.orchestrator.state import StateStore

__all__ = ["Engine", "RunOutcome"]

log = logging.getLogger("modelserve.orchestrator")


class _Lost(Exception):
    """This replica no longer owns the run: stop without writing anything."""


@dataclass
class RunOutcome:
    id: str
    pipeline: str
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    error_status: int = 200
    total_s: float = 0.0
    steps_s: float = 0.0
    step_latency: dict[str, float] = field(default_factory=dict)
    fresh: bool = False
    """Created by this replica and never interrupted: no stored step outcomes to honour."""
    last_write: asyncio.Task[None] | None = None
    """The newest step-outcome write of the run (each waits for the one before)."""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "pipeline": self.pipeline,
            "status": "succeeded" if self.ok else "failed",
            "timing": {
                "total_ms": round(self.total_s * 1000, 3),
                "steps_ms": round(self.steps_s * 1000, 3),
                "overhead_ms": round((self.total_s - self.steps_s) * 1000, 3),
                "step_ms": {k: round(v * 1000, 3) for k, v in self.step_latency.items()},
            },
        }
        if self.ok:
            body["result"] = self.result
        else:
            body["error"] = self.error
        return body


class Engine:
    def __init__(
        self,
        settings: OrchestratorSettings,
        store: StateStore,
        pipelines: dict[str, Pipeline],
        caller: StepCaller,
        metrics: OrchestratorMetrics,
        *,
        replica_id: str,
    ) -> None:
        self.settings = settings
        self.store = store
        self.pipelines = pipelines
        self.caller = caller
        self.metrics = metrics
        self.owner = replica_id
        self.lease_ms = int(settings.lease_s * 1000)
        self.tasks: dict[str, asyncio.Task[RunOutcome | None]] = {}
        self.accepting = True
        self.history_wakeup = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self.unavailable: dict[str, str] = {}
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}
        for name, pipe in pipelines.items():
            missing = sorted(pipe.services() - set(caller.services))
            missing += sorted(f"builtin:{b}" for b in pipe.builtins() - set(caller.builtins))
            if missing:
                self.unavailable[name] = f"not configured here: {', '.join(missing)}"
        metrics.preinit(list(pipelines))

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._heartbeat_loop(), name="orch-heartbeat"),
            asyncio.create_task(self._recovery_loop(), name="orch-recovery"),
        ]

    async def stop(self, deadline_s: float) -> tuple[int, int]:
        """Stop taking runs; wait up to ``deadline_s`` for in-flight ones, then cancel the
        rest (their leases expire and another replica resumes them). -> (finished, left)."""
        self.accepting = False
        for loop_task in self._loops:
            loop_task.cancel()
        pending = [t for t in self.tasks.values() if not t.done()]
        finished = len(pending)
        if pending:
            _, still = await asyncio.wait(pending, timeout=deadline_s)
            for t in still:
                t.cancel()
            finished -= len(still)
            await asyncio.gather(*still, return_exceptions=True)
        await asyncio.gather(*self._loops, return_exceptions=True)
        return finished, len(pending) - finished

    # -- accepting runs --------------------------------------------------------------------

    def pipeline(self, name: str) -> Pipeline:
        pipe = self.pipelines.get(name)
        if pipe is None:
            raise PipelineNotFound(
                f"no pipeline {name!r} (have {sorted(self.pipelines)})", field="pipeline"
            )
        if name in self.unavailable:
            raise PipelineUnavailable(f"pipeline {name!r}: {self.unavailable[name]}")
        return pipe

    def _validate(self, pipe: Pipeline, data: Any) -> None:
        validator = self._validators.get(pipe.name)
        if validator is None:  # built once per pipeline: it is on every run's path
            validator = jsonschema.Draft202012Validator(pipe.input_schema)
            self._validators[pipe.name] = validator
        if validator.is_valid(data):  # the common case, without building error objects
            return
        err = jsonschema.exceptions.best_match(validator.iter_errors(data))
        if err is not None:
            where = "input" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.path)
            raise BadInput(f"{where}: {err.message}", field=where)

    async def submit(self, name: str, data: Any, timeout_s: float | None = None) -> str:
        """Validate, record in Redis (the run is durable from here) and start executing."""
        if not self.accepting:
            raise ModelNotReady("orchestrator is draining: send the run to another replica")
        try:
            pipe = self.pipeline(name)
            self._validate(pipe, data)
            if len(self.tasks) >= self.settings.max_concurrent_runs:
                raise Overloaded(
                    f"{len(self.tasks)} runs in flight on this replica",
                    reason="queue_full",
                    retry_after_s=1.0,
                    status=503,
                )
            timeout = timeout_s or pipe.timeout_s or self.settings.default_timeout_s
            run_id = uuid.uuid4().hex
            created = time.time()
            await self.store.create_run(
                run_id, name, data, created + timeout, self.owner, self.lease_ms
            )
        except ModelServeError:
            if name in self.pipelines:
                self.metrics.runs.labels(name, "rejected").inc()
            raise
        self._spawn(run_id, pipe, data, created + timeout, created, resumed=False)
        return run_id

    async def run_sync(self, name: str, data: Any, timeout_s: float | None = None) -> RunOutcome:
        run_id = await self.submit(name, data, timeout_s)
        task = self.tasks.get(run_id)
        if task is None:  # finished before we looked (cannot happen with one event loop)
            raise StateUnavailable(f"run {run_id} vanished from this replica")
        pipe = self.pipelines[name]
        budget = timeout_s or pipe.timeout_s or self.settings.default_timeout_s
        try:  # the deadline bounds the wait too (a Redis outage parks the run, not the client)
            out = await asyncio.wait_for(asyncio.shield(task), timeout=budget + 1.0)
        except TimeoutError:
            raise DeadlineExceeded(
                f"run {run_id} did not finish within its deadline; it goes on: "
                f"GET /v1/runs/{run_id}",
                field="timeout_s",
            ) from None
        if out is None:
            raise ModelNotReady(f"run {run_id} moved to another replica; GET /v1/runs/{run_id}")
        return out

    def _spawn(
        self,
        run_id: str,
        pipe: Pipeline,
        data: Any,
        deadline: float,
        created: float,
        *,
        resumed: bool,
    ) -> None:
        task = asyncio.create_task(self._run(run_id, pipe, data, deadline, created, resumed))
        self.tasks[run_id] = task
        self.metrics.in_flight.set(len(self.tasks))
        task.add_done_callback(lambda _t: self._forget(run_id))

    def _forget(self, run_id: str) -> None:
        self.tasks.pop(run_id, None)
        self.metrics.in_flight.set(len(self.tasks))

    # -- executing -------------------------------------------------------------------------

    async def _run(
        self, run_id: str, pipe: Pipeline, data: Any, deadline: float, created: float, resumed: bool
    ) -> RunOutcome | None:
        """Execute until finished; on a Redis outage wait for it and start again from state."""
        while True:
            try:
                return await self._execute(run_id, pipe, data, deadline, created, resumed)
            except StateUnavailable as exc:
                log.warning("run %s waits for the state store: %s", run_id, exc)
                resumed = True  # steps may have been applied: trust only the stored state
                while True:
                    await asyncio.sleep(0.25)
                    try:
                        claim = await self.store.claim_run(run_id, self.owner, self.lease_ms)
                        break
                    except StateUnavailable as again:
                        task = asyncio.current_task()
                        if task is not None and task.cancelling():  # shutdown: stop waiting
                            raise asyncio.CancelledError from again
                        continue
                if claim != "ok":
                    log.info("run %s: after the outage it is %s here; leaving it", run_id, claim)
                    return None
            except _Lost:
                log.info("run %s: lease lost to another replica; stopping here", run_id)
                return None

    async def _execute(
        self, run_id: str, pipe: Pipeline, data: Any, deadline: float, created: float, resumed: bool
    ) -> RunOutcome:
        ctx: dict[str, Any] = {"input": data, "steps": {}}
        out = RunOutcome(run_id, pipe.name, ok=False, fresh=not resumed)
        try:
            try:
                out.steps_s = await self._seq(run_id, pipe, pipe.steps, ctx, deadline, out)
                out.result = render(pipe.output, ctx) if pipe.output is not None else ctx["steps"]
                out.ok = True
            except (StepFailed, DeadlineExceeded) as exc:
                out.error = {**exc.to_json(), "status": exc.status}
                out.error_status = exc.status
            except (StateUnavailable, _Lost):
                raise
            except ModelServeError as exc:
                out.error = {**exc.to_json(), "status": exc.status}
                out.error_status = exc.status
            if out.last_write is not None:
                await out.last_write  # every step outcome stored (or _Lost / StateUnavailable)
        finally:
            if out.last_write is not None and not out.last_write.done():
                out.last_write.cancel()
            if out.last_write is not None:
                await asyncio.gather(out.last_write, return_exceptions=True)
        out.total_s = time.time() - created
        overhead = max(0.0, out.total_s - out.steps_s)
        written = await self.store.finish_run(
            run_id,
            self.owner,
            ok=out.ok,
            result=out.result,
            error=out.error,
            overhead_s=overhead,
            ttl_s=self.settings.run_ttl_s,
        )
        if not written:
            raise _Lost
        self.metrics.runs.labels(pipe.name, "succeeded" if out.ok else "failed").inc()
        if not resumed:
            self.metrics.overhead.labels(pipe.name).observe(overhead)
        else:
            self.metrics.resumed.labels(pipe.name).inc()
        self.history_wakeup.set()
        return out

    async def _seq(
        self,
        run_id: str,
        pipe: Pipeline,
        steps: tuple[Step, ...],
        ctx: dict[str, Any],
        deadline: float,
        out: RunOutcome,
    ) -> float:
        total = 0.0
        for step in steps:
            total += await self._node(run_id, pipe, step, ctx, deadline, out)
        return total

    async def _node(
        self,
        run_id: str,
        pipe: Pipeline,
        step: Step,
        ctx: dict[str, Any],
        deadline: float,
        out: RunOutcome,
    ) -> float:
        if isinstance(step, ParallelStep):
            results = await asyncio.gather(
                *(self._node(run_id, pipe, b, ctx, deadline, out) for b in step.branches),
                return_exceptions=True,
            )
            for r in results:  # state first (all branches settled), then the first error
                if isinstance(r, BaseException):
                    raise r
            ctx["steps"][step.name] = {b.name: ctx["steps"].get(b.name) for b in step.branches}
            return max(float(r) for r in results if not isinstance(r, BaseException))
        if isinstance(step, SwitchStep):
            value = resolve(parse_ref(step.by), ctx)
            key = "" if value is None else str(value)
            branch = step.cases.get(key)
            case = key if branch is not None else "default"
            ctx["steps"][step.name] = {"case": case, "value": value}
            if branch is None:
                branch = step.default
            return await self._seq(run_id, pipe, branch, ctx, deadline, out) if branch else 0.0
        return await self._call(run_id, pipe, step, ctx, deadline, out)

    async def _call(
        self,
        run_id: str,
        pipe: Pipeline,
        step: CallStep,
        ctx: dict[str, Any],
        deadline: float,
        out: RunOutcome,
    ) -> float:
        if time.time() >= deadline:
            raise DeadlineExceeded(
                f"run deadline passed before step {step.name!r}", field=f"steps.{step.name}"
            )
        payload = render(step.input, ctx)
        retries = self.metrics.step_retries.labels(pipe.name, step.name)
        key = f"{run_id}:{step.name}"
        if out.fresh:
            # A run this replica created has no stored step outcomes and no other owner, so
            # the claim (pending -> running, atomic, fenced by run ownership) is written while
            # the call is in flight: one Redis round trip fewer per step on the critical
            # path. A crash in between leaves the step pending, which a resumer treats like
            # running: it calls again with the same idempotency key.
            claiming = asyncio.create_task(
                self.store.claim_step(run_id, step.name, self.owner, self.lease_ms)
            )
            try:
                outcome = await self.caller.call(step, payload, deadline, key, retries.inc)
            finally:
                claim = await claiming
            if claim.outcome != "claimed":
                raise _Lost
        else:
            while True:
                claim = await self.store.claim_step(run_id, step.name, self.owner, self.lease_ms)
                if claim.outcome != "held":
                    break
                await asyncio.sleep(min(0.25, self.settings.lease_s / 4))  # a live owner: wait
                if time.time() >= deadline:
                    raise DeadlineExceeded(
                        f"step {step.name!r} held by another replica past the deadline",
                        field=f"steps.{step.name}",
                    )
            if claim.outcome == "lost":
                raise _Lost
            if claim.outcome in ("done", "failed"):  # stored by an earlier execution: reuse
                ctx["steps"][step.name] = claim.result
                if claim.outcome == "failed" and step.dependency == "hard":
                    raise StepFailed(
                        f"step {step.name!r} failed: {claim.meta.get('error', '')}",
                        step=step.name,
                    )
                return 0.0
            outcome = await self.caller.call(step, payload, deadline, key, retries.inc)
        self.metrics.step_duration.labels(pipe.name, step.name).observe(outcome.latency_s)
        write = self._store_step(run_id, step, outcome, out)
        if not out.fresh:
            await write
        out.step_latency[step.name] = outcome.latency_s
        ctx["steps"][step.name] = outcome.result
        if not outcome.ok and step.dependency == "hard":
            if outcome.deadline_hit or time.time() >= deadline:
                raise DeadlineExceeded(
                    f"step {step.name!r}: {outcome.error}", field=f"steps.{step.name}"
                )
            raise StepFailed(
                f"step {step.name!r} failed after {outcome.attempts} attempt(s): {outcome.error}",
                step=step.name,
                upstream_status=outcome.status,
            )
        return outcome.latency_s

    def _store_step(
        self, run_id: str, step: CallStep, outcome: CallOutcome, out: RunOutcome
    ) -> asyncio.Task[None]:
        """Store a step's outcome after every earlier write of the run (a chain).

        A fresh run does not wait for it before the next step (write-behind: one Redis round
        trip fewer per step on the critical path); the run waits for the whole chain before it
        finishes. If the replica dies first, the step is not recorded as done and the resumer
        calls it again with the same idempotency key: the service answers from its cache.
        """
        previous = out.last_write

        async def write() -> None:
            if previous is not None:
                await previous  # keeps order; re-raises _Lost / StateUnavailable
            stored = await self.store.finish_step(
                run_id,
                step.name,
                self.owner,
                ok=outcome.ok,
                result=outcome.result,
                attempts=outcome.attempts,
                latency_s=round(outcome.latency_s, 6),
                error=outcome.error,
            )
            if not stored:
                raise _Lost

        out.last_write = asyncio.create_task(write())
        return out.last_write

    # -- background loops ------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_s / 3)
            for run_id, task in list(self.tasks.items()):
                try:
                    renewed = await self.store.heartbeat(run_id, self.owner, self.lease_ms)
                    if not renewed and not task.done():
                        task.cancel()  # another replica owns it now
                except StateUnavailable:
                    break  # runs wait for the store themselves; try again next round

    async def _recovery_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.recovery_interval_s)
            with contextlib.suppress(StateUnavailable):
                await self.recover_once()

    async def recover_once(self) -> list[str]:
        """Claim and resume every run whose lease expired; returns the ids taken."""
        taken: list[str] = []
        if not self.accepting:
            return taken
        for run_id in await self.store.expired_runs():
            if run_id in self.tasks or len(self.tasks) >= self.settings.max_concurrent_runs:
                continue
            try:
                rec = await self.store.get_run(run_id, with_steps=False)
            except RunNotFound:
                continue
            if rec.pipeline in self.unavailable:
                continue  # a replica that has what the pipeline needs will take it
            if await self.store.claim_run(run_id, self.owner, self.lease_ms) != "ok":
                continue
            pipe = self.pipelines.get(rec.pipeline)
            log.info("resuming run %s of %s (claim %d)", run_id, rec.pipeline, rec.claims + 1)
            if pipe is None:
                err = PipelineNotFound(f"pipeline {rec.pipeline!r} is not loaded on {self.owner}")
                await self.store.finish_run(
                    run_id,
                    self.owner,
                    ok=False,
                    result=None,
                    error={**err.to_json(), "status": err.status},
                    overhead_s=0.0,
                    ttl_s=self.settings.run_ttl_s,
                )
                continue
            self._spawn(run_id, pipe, rec.input, rec.deadline, rec.created, resumed=True)
            taken.append(run_id)
        return taken
