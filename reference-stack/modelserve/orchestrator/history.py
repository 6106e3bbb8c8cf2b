"""Finished runs and model metadata in PostgreSQL (psycopg 3), off the request path.

Finishing a run pushes its id onto a Redis list (atomically with the finish, see state.py);
:class:`HistoryWriter` drains that list into ``orchestrator_runs`` and removes each id only
after its row is committed. PostgreSQL being down therefore delays history, never loses it,
and two replicas writing the same run are harmless (``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from modelserve.orchestrator.errors import StateUnavailable
from modelserve.orchestrator.state import StateStore

__all__ = ["SCHEMA", "HistoryWriter", "shrink"]

log = logging.getLogger("modelserve.orchestrator.history")

SCHEMA = Path(__file__).with_name("schema.sql")
_MAX_STRING = 2048

_INSERT = """
INSERT INTO orchestrator_runs (run_id, pipeline, status, created_at, finished_at, duration_ms,
    overhead_ms, claims, input, result, error, steps, recorded_by)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (run_id) DO NOTHING
"""

_UPSERT_MODEL = """
INSERT INTO model_metadata (service, model, version, platform, metadata, seen_at)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (service, model, version)
DO UPDATE SET platform = EXCLUDED.platform, metadata = EXCLUDED.metadata, seen_at = EXCLUDED.seen_at
"""


def shrink(value: Any) -> Any:
    """``value`` with long strings (base64 images) replaced by a note of their length."""
    if isinstance(value, str) and len(value) > _MAX_STRING:
        return f"<{len(value)} characters>"
    if isinstance(value, dict):
        return {k: shrink(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shrink(v) for v in value]
    return value


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class HistoryWriter:
    def __init__(self, dsn: str, store: StateStore, *, replica_id: str) -> None:
        self.dsn = dsn
        self.store = store
        self.replica_id = replica_id
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self.written = 0

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.dsn, autocommit=True, connect_timeout=3
            )
            await self._conn.execute(SCHEMA.read_text(encoding="utf-8"))
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def flush(self, limit: int = 200) -> int:
        """Write waiting finished runs (one Redis read, one transaction, one Redis delete for
        the whole batch); returns how many rows were written."""
        ids = await self.store.history_peek(limit)
        if not ids:
            return 0
        records = await self.store.get_runs(ids)
        rows = []
        for rec in records.values():
            steps = {
                name: {k: v for k, v in view.items() if k != "result"}
                for name, view in (rec.steps or {}).items()
            }
            finished = rec.finished or rec.created
            rows.append(
                (
                    rec.id,
                    rec.pipeline,
                    rec.status,
                    _ts(rec.created),
                    _ts(finished),
                    (finished - rec.created) * 1000,
                    None if rec.overhead_s is None else rec.overhead_s * 1000,
                    rec.claims,
                    Jsonb(shrink(rec.input)),
                    Jsonb(shrink(rec.result)),
                    Jsonb(rec.error),
                    Jsonb(steps),
                    self.replica_id,
                )
            )
        if rows:
            conn = await self._connection()
            async with conn.transaction(), conn.cursor() as cur:
                await cur.executemany(_INSERT, rows)
        # Ids whose run expired from Redis before PostgreSQL came back are dropped too.
        await self.store.history_done(*ids)
        self.written += len(rows)
        return len(rows)

    async def record_model(self, service: str, meta: dict[str, Any]) -> None:
        """Upsert one model's OIP metadata (name, versions, platform)."""
        versions = meta.get("versions") or ["1"]
        conn = await self._connection()
        for version in versions:
            await conn.execute(
                _UPSERT_MODEL,
                (
                    service,
                    str(meta.get("name", service)),
                    str(version),
                    str(meta.get("platform", "")),
                    Jsonb(meta),
                    datetime.now(tz=UTC),
                ),
            )

    async def query(self, *, pipeline: str | None, limit: int) -> list[dict[str, Any]]:
        conn = await self._connection()
        where, args = ("WHERE pipeline = %s", [pipeline]) if pipeline else ("", [])
        cur = await conn.execute(
            "SELECT run_id, pipeline, status, created_at, finished_at, duration_ms, overhead_ms,"
            f" claims, error, steps FROM orchestrator_runs {where}"
            " ORDER BY created_at DESC LIMIT %s",
            [*args, limit],
        )
        cols = [c.name for c in cur.description or []]
        rows = []
        for row in await cur.fetchall():
            item = dict(zip(cols, row, strict=True))
            item["created_at"] = item["created_at"].isoformat()
            item["finished_at"] = item["finished_at"].isoformat()
            rows.append(item)
        return rows

    async def run(self, wakeup: asyncio.Event, interval_s: float) -> None:
        """Flush whenever a run finishes (``wakeup``) or every ``interval_s`` until cancelled;
        a PostgreSQL or Redis error is logged and retried, never raised."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), timeout=interval_s)
            wakeup.clear()
            try:
                await self.flush()
            except (psycopg.Error, OSError, StateUnavailable) as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # psycopg can turn a cancelled connect into OperationalError: stop anyway,
                    # or shutdown would wait on this loop for ever.
                    raise asyncio.CancelledError from exc
                log.warning("history not written yet (will retry): %s", exc)
                await self.close()
