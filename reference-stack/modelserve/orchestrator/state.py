"""Run and step state in Redis, changed only by atomic Lua scripts.

Keys (``P`` is the prefix, ``orch:`` by default)::

    P run:{id}       hash   pipeline, input, status, deadline, owner, lease_until, result ...
    P steps:{id}     hash   step -> JSON meta {status, owner, lease_until, attempts, claims ...}
    P results:{id}   hash   step -> the step's output JSON, stored verbatim
    P leases         zset   unfinished run id -> lease expiry (ms, Redis clock)
    P runs           zset   run id -> created (s), for listing
    P history        list   finished run ids waiting to be written to PostgreSQL

Run status: pending -> running -> succeeded | failed. Step status: pending -> running (with a
lease and an owner) -> done (with its result) | failed (with attempts and the error).

Every replica renews the leases of what it runs (``heartbeat``). A replica that dies stops
renewing; once the lease passes, another replica's recovery loop ``claim_run``s the run and
runs it again from the stored state: ``done`` steps are not called again, and a step that
was ``running`` is called again with the SAME idempotency key, so a model service that
already applied it answers from its idempotency cache instead of applying it twice. Every
write is fenced by the owner: a replica that lost its lease (a long pause) cannot overwrite
the new owner's state. Leases use Redis's clock (``TIME``), so replicas need no clock sync.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as RedisRetry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from modelserve.orchestrator.errors import RunNotFound, StateUnavailable

__all__ = ["FINISHED", "RunRecord", "StateStore", "StepClaim"]

FINISHED = ("succeeded", "failed")

_NOW = "local t = redis.call('TIME'); local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"

# KEYS run, runs, leases; ARGV id, pipeline, input, created, deadline, owner, lease_ms
# -> 1 created | 0 the id exists
_CREATE_RUN = (
    _NOW
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local until_ = now + tonumber(ARGV[7])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'pipeline', ARGV[2], 'input', ARGV[3],
  'status', 'running', 'created', ARGV[4], 'deadline', ARGV[5], 'owner', ARGV[6],
  'lease_until', until_, 'claims', 1)
redis.call('ZADD', KEYS[2], tonumber(ARGV[4]), ARGV[1])
redis.call('ZADD', KEYS[3], until_, ARGV[1])
return 1
"""
)

# KEYS run, leases; ARGV owner, lease_ms, run_id -> "ok" | "held" | "missing" | finished status
_CLAIM_RUN = (
    _NOW
    + """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return 'missing' end
if st == 'succeeded' or st == 'failed' then return st end
local owner = redis.call('HGET', KEYS[1], 'owner')
local lu = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
if owner ~= ARGV[1] and lu > now then return 'held' end
local until_ = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'lease_until', until_, 'status', 'running')
redis.call('HINCRBY', KEYS[1], 'claims', 1)
redis.call('ZADD', KEYS[2], until_, ARGV[3])
return 'ok'
"""
)

# KEYS run, steps, leases; ARGV owner, lease_ms, run_id -> 1 renewed | 0 lost
_HEARTBEAT = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'succeeded' or st == 'failed' then return 0 end
local until_ = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'lease_until', until_)
redis.call('ZADD', KEYS[3], until_, ARGV[3])
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local s = cjson.decode(all[i + 1])
  if s.status == 'running' and s.owner == ARGV[1] then
    s.lease_until = until_
    redis.call('HSET', KEYS[2], all[i], cjson.encode(s))
  end
end
return 1
"""
)

# KEYS run, steps, results; ARGV owner, step, lease_ms
# -> {"claimed", meta} | {"done"|"failed", meta, result} | {"held", meta} | {"lost", ""}
_CLAIM_STEP = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return {'lost', ''} end
local raw = redis.call('HGET', KEYS[2], ARGV[2])
local s
if raw then
  s = cjson.decode(raw)
  if s.status == 'done' or s.status == 'failed' then
    return {s.status, raw, redis.call('HGET', KEYS[3], ARGV[2]) or 'null'}
  end
  if s.status == 'running' and s.owner ~= ARGV[1] and s.lease_until > now then
    return {'held', raw}
  end
else
  s = {attempts = 0, claims = 0, started = now}
end
s.status = 'running'
s.owner = ARGV[1]
s.lease_until = now + tonumber(ARGV[3])
s.claims = s.claims + 1
local out = cjson.encode(s)
redis.call('HSET', KEYS[2], ARGV[2], out)
return {'claimed', out}
"""
)

# KEYS run, steps, results; ARGV owner, step, status, result_json, attempts, latency_s, error
# -> 1 written | 0 fenced out
_FINISH_STEP = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
local raw = redis.call('HGET', KEYS[2], ARGV[2])
if not raw then return 0 end
local s = cjson.decode(raw)
if s.status ~= 'running' or s.owner ~= ARGV[1] then return 0 end
s.status = ARGV[3]
s.attempts = s.attempts + tonumber(ARGV[5])
s.latency_s = tonumber(ARGV[6])
s.finished = now
if ARGV[7] ~= '' then s.error = ARGV[7] end
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(s))
redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
return 1
"""
)

# KEYS run, leases, history, steps, results, runs
# ARGV owner, status, result_json, error_json, run_id, finished_s, overhead_s, ttl_s
_FINISH_RUN = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'succeeded' or st == 'failed' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'result', ARGV[3], 'error', ARGV[4],
  'finished', ARGV[6], 'overhead_s', ARGV[7])
redis.call('ZREM', KEYS[2], ARGV[5])
redis.call('RPUSH', KEYS[3], ARGV[5])
for _, i in ipairs({1, 4, 5}) do redis.call('EXPIRE', KEYS[i], tonumber(ARGV[8])) end
return 1
"""


@dataclass(frozen=True)
class StepClaim:
    """What ``claim_step`` found: ``claimed`` (call it), ``done``/``failed`` (use the stored
    outcome), ``held`` (another live owner), ``lost`` (this replica no longer owns the run)."""

    outcome: str
    meta: dict[str, Any]
    result: Any = None


@dataclass(frozen=True)
class RunRecord:
    id: str
    pipeline: str
    status: str
    input: Any
    created: float
    deadline: float
    owner: str
    claims: int
    result: Any = None
    error: Any = None
    finished: float | None = None
    overhead_s: float | None = None
    steps: dict[str, dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "pipeline": self.pipeline,
            "status": self.status,
            "created": self.created,
            "deadline": self.deadline,
            "claims": self.claims,
        }
        for key in ("result", "error", "finished", "overhead_s", "steps"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        return body


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class StateStore:
    """Async access to run state. Every Redis failure becomes :class:`StateUnavailable`."""

    def __init__(self, url: str, *, prefix: str = "orch:", timeout_s: float = 1.0) -> None:
        self.url = url
        self.prefix = prefix
        # No client-side retry loop: a down Redis must turn into a quick, clear 503.
        self.redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=RedisRetry(NoBackoff(), 1),
            decode_responses=True,
        )
        self._create_run = self.redis.register_script(_CREATE_RUN)
        self._claim_run = self.redis.register_script(_CLAIM_RUN)
        self._heartbeat = self.redis.register_script(_HEARTBEAT)
        self._claim_step = self.redis.register_script(_CLAIM_STEP)
        self._finish_step = self.redis.register_script(_FINISH_STEP)
        self._finish_run = self.redis.register_script(_FINISH_RUN)

    def _k(self, kind: str, run_id: str = "") -> str:
        return f"{self.prefix}{kind}:{run_id}" if run_id else f"{self.prefix}{kind}"

    def _unavailable(self, exc: Exception) -> StateUnavailable:
        return StateUnavailable(f"run state store (Redis at {self.url}) unavailable: {exc}")

    async def close(self) -> None:
        await self.redis.aclose()

    async def ping(self) -> None:
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def create_run(
        self, run_id: str, pipeline: str, data: Any, deadline: float, owner: str, lease_ms: int
    ) -> None:
        """Record an accepted run, owned by ``owner`` with a lease, in one atomic script (one
        round trip: it is on every run's critical path)."""
        keys = [self._k("run", run_id), self._k("runs"), self._k("leases")]
        args: list[str | int | float] = [
            run_id,
            pipeline,
            _dumps(data),
            repr(time.time()),
            repr(deadline),
            owner,
            lease_ms,
        ]
        try:
            if not await self._create_run(keys=keys, args=args):
                raise StateUnavailable(f"run id {run_id} already exists")
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def claim_run(self, run_id: str, owner: str, lease_ms: int) -> str:
        keys = [self._k("run", run_id), self._k("leases")]
        try:
            return str(await self._claim_run(keys=keys, args=[owner, lease_ms, run_id]))
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def expired_runs(self, limit: int = 50) -> list[str]:
        """Unfinished runs whose lease has passed (candidates for ``claim_run``)."""
        try:
            sec, usec = await self.redis.time()
            now_ms = sec * 1000 + usec // 1000
            ids = await self.redis.zrangebyscore(self._k("leases"), 0, now_ms, start=0, num=limit)
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return [str(i) for i in ids]

    async def heartbeat(self, run_id: str, owner: str, lease_ms: int) -> bool:
        keys = [self._k("run", run_id), self._k("steps", run_id), self._k("leases")]
        try:
            return bool(await self._heartbeat(keys=keys, args=[owner, lease_ms, run_id]))
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def claim_step(self, run_id: str, step: str, owner: str, lease_ms: int) -> StepClaim:
        keys = [self._k("run", run_id), self._k("steps", run_id), self._k("results", run_id)]
        try:
            out = await self._claim_step(keys=keys, args=[owner, step, lease_ms])
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        outcome = str(out[0])
        meta = json.loads(out[1]) if out[1] else {}
        result = json.loads(out[2]) if len(out) > 2 else None
        return StepClaim(outcome, meta, result)

    async def finish_step(
        self,
        run_id: str,
        step: str,
        owner: str,
        *,
        ok: bool,
        result: Any,
        attempts: int,
        latency_s: float,
        error: str = "",
    ) -> bool:
        keys = [self._k("run", run_id), self._k("steps", run_id), self._k("results", run_id)]
        args = [owner, step, "done" if ok else "failed", _dumps(result), attempts, latency_s, error]
        try:
            return bool(await self._finish_step(keys=keys, args=args))
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def finish_run(
        self,
        run_id: str,
        owner: str,
        *,
        ok: bool,
        result: Any,
        error: Any,
        overhead_s: float,
        ttl_s: int,
    ) -> bool:
        keys = [
            self._k("run", run_id),
            self._k("leases"),
            self._k("history"),
            self._k("steps", run_id),
            self._k("results", run_id),
            self._k("runs"),
        ]
        status = "succeeded" if ok else "failed"
        args: list[str | int | float] = [
            owner,
            status,
            _dumps(result),
            _dumps(error),
            run_id,
            repr(time.time()),
            repr(overhead_s),
            ttl_s,
        ]
        try:
            return bool(await self._finish_run(keys=keys, args=args))
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def get_run(self, run_id: str, *, with_steps: bool = True) -> RunRecord:
        found = await self.get_runs([run_id], with_steps=with_steps)
        if run_id not in found:
            raise RunNotFound(f"no run {run_id!r} (unknown, or expired from Redis)", field="id")
        return found[run_id]

    async def get_runs(
        self, run_ids: list[str], *, with_steps: bool = True
    ) -> dict[str, RunRecord]:
        """Several runs in one round trip; ids that do not exist (expired) are left out."""
        try:
            async with self.redis.pipeline(transaction=False) as p:
                for run_id in run_ids:
                    p.hgetall(self._k("run", run_id))
                    p.hgetall(self._k("steps", run_id))
                    p.hgetall(self._k("results", run_id))
                replies = await p.execute()
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        out: dict[str, RunRecord] = {}
        for i, run_id in enumerate(run_ids):
            raw, steps, results = replies[3 * i : 3 * i + 3]
            if raw:
                out[run_id] = self._record(run_id, raw, steps, results, with_steps)
        return out

    @staticmethod
    def _record(
        run_id: str,
        raw: dict[str, str],
        steps: dict[str, str],
        results: dict[str, str],
        with_steps: bool,
    ) -> RunRecord:
        step_view: dict[str, dict[str, Any]] | None = None
        if with_steps:
            step_view = {}
            for name, meta in steps.items():
                m = json.loads(meta)
                view = {k: m[k] for k in ("status", "attempts", "claims", "latency_s") if k in m}
                if "error" in m:
                    view["error"] = m["error"]
                if name in results:
                    view["result"] = json.loads(results[name])
                step_view[name] = view
        return RunRecord(
            id=run_id,
            pipeline=raw["pipeline"],
            status=raw["status"],
            input=json.loads(raw["input"]),
            created=float(raw["created"]),
            deadline=float(raw["deadline"]),
            owner=raw.get("owner", ""),
            claims=int(raw.get("claims", "0")),
            result=json.loads(raw["result"]) if "result" in raw else None,
            error=json.loads(raw["error"]) if "error" in raw else None,
            finished=float(raw["finished"]) if "finished" in raw else None,
            overhead_s=float(raw["overhead_s"]) if "overhead_s" in raw else None,
            steps=step_view,
        )

    async def list_runs(
        self, *, limit: int = 50, pipeline: str | None = None, status: str | None = None
    ) -> list[RunRecord]:
        """Newest first; entries whose hash expired are dropped from the index on the way."""
        try:
            ids = await self.redis.zrevrange(self._k("runs"), 0, max(limit * 4, limit) - 1)
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        wanted = [str(i) for i in ids]
        found = await self.get_runs(wanted, with_steps=False)
        gone = [i for i in wanted if i not in found]
        if gone:
            try:
                await self.redis.zrem(self._k("runs"), *gone)
            except (RedisError, OSError) as exc:
                raise self._unavailable(exc) from exc
        out = [
            rec
            for rec in (found[i] for i in wanted if i in found)
            if not (pipeline and rec.pipeline != pipeline) and not (status and rec.status != status)
        ]
        return out[:limit]

    async def history_peek(self, limit: int = 50) -> list[str]:
        try:
            return [str(x) for x in await self.redis.lrange(self._k("history"), 0, limit - 1)]
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc

    async def history_done(self, *run_ids: str) -> None:
        """Drop ids from the history outbox once their rows are committed."""
        try:
            async with self.redis.pipeline(transaction=False) as p:
                for run_id in run_ids:
                    p.lrem(self._k("history"), 1, run_id)
                await p.execute()
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
