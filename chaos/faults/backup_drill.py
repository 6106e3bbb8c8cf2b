"""``backup_drill``: a data-protection drill on one store (``postgresql``, ``redis``, ``s3``),
judged against its backup schedule.

Through a real client of the store (psycopg, redis-py, boto3 against the platform's S3)::

    write ``items`` known items, then one new item every 1/``write_rate`` s (a writer thread)
    every ``backup_every`` s: platform.backup(store)         (the schedule; a failed backup is
                                                              recorded and is not a good one)
    T_loss, a random moment in the window's last schedule interval: lose the drill's data
    platform.restore(store, last good backup before T_loss)
    verify: what came back is exactly the items written first, in order, and at least all
    those written before that backup started

RPO is what the loss cost: T_loss minus the write time of the last item that came back (the
writes after it are lost). With backups on schedule it stays under ``backup_every`` plus one
backup's duration, so a gate ``rpo_s max: <schedule>`` holds; a broken schedule (backups
failing, too rare) loses more and fails it. RTO runs from the loss to the restored data
verified by checksum. Both become ``measurement`` events (``rpo_s``, ``rto_s``, ``backup_s``
the longest backup, with ``store``) through the probe result.

The drill touches only its own data (a scratch table, prefixed keys and objects) and removes
it afterwards; a harness killed mid-drill leaves at most that scratch data lost, so the fault
is self-contained (``reverts`` False). Point-in-time recovery from a WAL archive is not part
of it (the local PostgreSQL has no WAL archive configured).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from chaos.base import FaultPlan, ProbeResult, param_duration
from harness import loopback
from harness.errors import ConfigError, FaultError, HarnessError, Unsupported
from harness.platform.base import Injection, Platform, new_injection_id
from harness.scenario import FaultEntry

__all__ = ["STORES", "BackupDrill", "DataStore", "connect_store"]

STORES = ("postgresql", "redis", "s3")
_TABLE = "chaos_backup_drill"
_PREFIX = "chaos-backup-drill/"


class DataStore(Protocol):
    """The drill's view of one store: only its own items, by key."""

    def put(self, items: dict[str, str]) -> None: ...

    def items(self) -> dict[str, str]:
        """The drill's items now, by key."""
        ...

    def checksum(self) -> str:
        """sha256 over the drill's items in key order (of nothing when none)."""
        ...

    def lose(self) -> None:
        """Simulate the loss of the drill's data."""
        ...

    def cleanup(self) -> None: ...


def _digest(items: list[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for k, v in sorted(items):
        h.update(f"{k}\0{v}\n".encode())
    return h.hexdigest()


class _Postgres:
    def __init__(self, url: str) -> None:
        self.url = url

    def _exec(self, sql: str, params: Any = None, *, fetch: bool = False) -> list[Any]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(sql, params)
            return list(cur.fetchall()) if fetch else []

    def put(self, items: dict[str, str]) -> None:
        self._exec(f"CREATE TABLE IF NOT EXISTS {_TABLE} (k text PRIMARY KEY, v text NOT NULL)")
        import psycopg

        with (
            psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn,
            conn.cursor() as cur,
        ):
            cur.executemany(
                f"INSERT INTO {_TABLE} (k, v) VALUES (%s, %s) "
                "ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                list(items.items()),
            )

    def items(self) -> dict[str, str]:
        exists = self._exec("SELECT to_regclass(%s) IS NOT NULL", (_TABLE,), fetch=True)
        if not exists[0][0]:
            return {}
        return {str(k): str(v) for k, v in self._exec(f"SELECT k, v FROM {_TABLE}", fetch=True)}

    def checksum(self) -> str:
        return _digest(list(self.items().items()))

    def lose(self) -> None:
        self._exec(f"DROP TABLE IF EXISTS {_TABLE}")

    def cleanup(self) -> None:
        self.lose()


class _Redis:
    def __init__(self, url: str) -> None:
        self.url = url

    def _client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5, decode_responses=True)

    def put(self, items: dict[str, str]) -> None:
        self._client().mset({_PREFIX + k: v for k, v in items.items()})

    def _keys(self) -> list[str]:
        return sorted(self._client().scan_iter(match=_PREFIX + "*", count=500))

    def items(self) -> dict[str, str]:
        keys = self._keys()
        values = self._client().mget(keys) if keys else []
        return {k.removeprefix(_PREFIX): str(v) for k, v in zip(keys, values, strict=True)}

    def checksum(self) -> str:
        return _digest(list(self.items().items()))

    def lose(self) -> None:
        keys = self._keys()
        if keys:
            self._client().delete(*keys)

    def cleanup(self) -> None:
        self.lose()


class _S3:
    def __init__(self, endpoint: str, bucket: str, region: str) -> None:
        self.bucket = bucket
        import boto3
        from botocore.config import Config

        self.s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            # botocore takes HTTP_PROXY from the environment; none reaches a loopback moto.
            config=Config(proxies={} if loopback.is_loopback(endpoint) else None),
        )

    def _keys(self) -> list[str]:
        out: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=_PREFIX
        ):
            out += [o["Key"] for o in page.get("Contents", [])]
        return sorted(out)

    def put(self, items: dict[str, str]) -> None:
        for k, v in items.items():  # an overwrite is a new object version
            self.s3.put_object(Bucket=self.bucket, Key=_PREFIX + k, Body=v.encode())

    def items(self) -> dict[str, str]:
        out = {}
        for key in self._keys():
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()
            out[key.removeprefix(_PREFIX)] = body
        return out

    def checksum(self) -> str:
        return _digest(list(self.items().items()))

    def lose(self) -> None:
        keys = self._keys()
        if keys:  # delete markers on top of every version: the current objects are gone
            self.s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys]}
            )

    def cleanup(self) -> None:
        self.lose()


def connect_store(platform: Platform, store: str) -> DataStore:
    """A real client of ``store`` from the platform's ``data_stores()`` connection details."""
    access = getattr(platform, "data_stores", None)
    if not callable(access):
        raise Unsupported(platform.name, "backup_drill", "no data_stores() connection details")
    info: dict[str, Any] = dict(access()[store])
    if store == "postgresql":
        return _Postgres(str(info["url"]))
    if store == "redis":
        return _Redis(str(info["url"]))
    return _S3(str(info["endpoint"]), str(info["bucket"]), str(info["region"]))


Connect = Callable[[Platform, str], DataStore]


@dataclass(frozen=True)
class _Schedule:
    items: int  # written before the schedule starts
    write_rate: float  # new items a second while the schedule runs
    backup_every: float  # seconds between backup starts
    window: float  # seconds the schedule runs; the loss falls in its last interval
    seed: int | None

    @classmethod
    def of(cls, entry: FaultEntry) -> _Schedule:
        where = f"faults[{entry.index}]"
        items = int(entry.params.get("items", 50))
        if items < 2:
            raise ConfigError("items must be at least 2", field=f"{where}.items")
        rate = float(entry.params.get("write_rate", 20.0))
        if not 0 < rate <= 500:
            raise ConfigError(f"write_rate is in (0, 500], got {rate}", field=f"{where}.write_rate")
        every = param_duration(entry, "backup_every", 3.0)
        window = param_duration(entry, "window", 10.0)
        if every <= 0 or window < every:
            raise ConfigError(
                f"backup_every ({every:g}s) must be positive and at most window ({window:g}s)",
                field=f"{where}.backup_every",
            )
        seed = entry.params.get("seed")
        return cls(items, rate, every, window, None if seed is None else int(seed))


@dataclass
class _Writer:
    """Writes one new item every 1/rate s in its thread; ``log`` is (key, time written)."""

    db: DataStore
    rate: float
    first: int
    log: list[tuple[str, float]] = field(default_factory=list)
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        i, period = self.first, 1.0 / self.rate
        try:
            while not self.stop.wait(period):
                key = f"k{i:06d}"
                self.db.put({key: f"v{i}"})
                self.log.append((key, time.time()))
                i += 1
        except Exception as exc:  # surfaced by the drill: a writer that broke proves nothing
            self.error = exc


def _kept(restored: dict[str, str], log: list[tuple[str, float]], store: str) -> int:
    """How many items came back: they must be exactly the first ones written."""
    keys = [k for k, _ in log]
    n = len(restored)
    expected = {k: f"v{int(k[1:])}" for k in keys[:n]}
    if restored != expected:
        wrong = sorted(set(restored) ^ set(expected))[:5]
        raise FaultError(
            f"{store}: the restore is not the first {n} items written (differs at {wrong})"
        )
    return n


class BackupDrill:
    kind: ClassVar[str] = "backup_drill"
    reverts: ClassVar[bool] = False

    def __init__(self, connect: Connect = connect_store) -> None:
        self.connect = connect

    def validate(self, entry: FaultEntry, platform: Platform | None) -> FaultPlan:
        store = str(entry.target.get("store", ""))
        if store not in STORES:
            raise ConfigError(
                f"store is one of {', '.join(STORES)}, got {store!r}",
                field=f"faults[{entry.index}].target.store",
            )
        sc = _Schedule.of(entry)
        return FaultPlan(
            entry,
            self.kind,
            [store],
            {
                "items": sc.items,
                "write_rate": sc.write_rate,
                "backup_every_s": sc.backup_every,
                "window_s": sc.window,
                "seed": sc.seed,
            },
            f"backup drill on {store}: {sc.items} items, then {sc.write_rate:g}/s for "
            f"{sc.window:g}s with a backup every {sc.backup_every:g}s; lose at a random moment "
            "of the last interval, restore the last good backup, verify",
        )

    def inject(self, plan: FaultPlan, platform: Platform) -> list[Injection]:
        store, p = plan.targets[0], plan.params
        db = self.connect(platform, store)
        db.cleanup()
        first = int(p["items"])
        writer = _Writer(db, float(p["write_rate"]), first)
        thread = threading.Thread(target=writer.run, name=f"drill-writer-{store}", daemon=True)
        try:
            db.put({f"k{i:06d}": f"v{i}" for i in range(first)})
            t0 = time.time()
            writer.log = [(f"k{i:06d}", t0) for i in range(first)]
            every, window = float(p["backup_every_s"]), float(p["window_s"])
            rng = random.Random(p["seed"])
            t_loss_at = t0 + window - every * rng.random()
            thread.start()
            backups = self._schedule(platform, store, writer, t0, every, t_loss_at)
            writer.stop.set()
            thread.join(timeout=10)
            if writer.error is not None:
                raise FaultError(f"{store}: the drill's writes failed: {writer.error}")
            t_loss = time.time()
            db.lose()
            if db.items():
                raise FaultError(f"{store}: the loss left the data in place")
            good = [b for b in backups if b["ok"] and b["ended"] <= t_loss]
            if not good:
                raise FaultError(f"{store}: no backup completed before the loss: {backups}")
            last = good[-1]
            platform.restore(store, last["id"])  # type: ignore[arg-type]
            restored = db.items()
            t_verified = time.time()
        finally:
            writer.stop.set()
            db.cleanup()
        kept = _kept(restored, writer.log, store)
        before = sum(1 for _, t in writer.log if t < last["started"])
        if kept < before:
            raise FaultError(
                f"{store}: backup {last['id']} lost {before - kept} item(s) written before it "
                "started"
            )
        t_last_kept = writer.log[kept - 1][1] if kept else t0
        now = time.time()
        return [
            Injection(
                id=new_injection_id(self.kind),
                platform=platform.name,
                kind=self.kind,
                target=store,
                params={
                    "backup_id": last["id"],
                    "checksum": _digest(list(restored.items())),
                    "written": len(writer.log),
                    "lost": len(writer.log) - kept,
                    "backups": len(backups),
                    "good_backups": len(good),
                    "rpo_s": round(t_loss - t_last_kept, 4),
                    "rto_s": round(t_verified - t_loss, 4),
                    "backup_s": round(max(b["ended"] - b["started"] for b in backups), 4),
                },
                undo={},  # nothing left to take back: the drill restored and cleaned up
                started=now,
                expires=now,
            )
        ]

    def _schedule(
        self,
        platform: Platform,
        store: str,
        writer: _Writer,
        t0: float,
        every: float,
        until: float,
    ) -> list[dict[str, Any]]:
        """Back up every ``every`` s from ``t0`` until ``until``; each attempt recorded."""
        backups: list[dict[str, Any]] = []
        next_at = t0 + every
        while True:
            now = time.time()
            if now >= until or writer.error is not None:
                return backups
            if now < next_at:
                time.sleep(min(next_at, until) - now)
                continue
            started = time.time()
            try:
                backup_id, ok, why = platform.backup(store), True, None  # type: ignore[arg-type]
            except HarnessError as exc:
                backup_id, ok, why = None, False, str(exc)
            backups.append(
                {"id": backup_id, "ok": ok, "error": why, "started": started, "ended": time.time()}
            )
            next_at += every

    def probe(
        self, plan: FaultPlan, platform: Platform, injections: list[Injection]
    ) -> ProbeResult:
        if not injections:
            return ProbeResult(False, "no drill result")
        p = injections[0].params
        store = plan.targets[0]
        return ProbeResult(
            True,
            f"{store}: {p['written']} items written, {p['good_backups']}/{p['backups']} backups "
            f"good; lost at random, backup {p['backup_id']} restored exactly the first "
            f"{p['written'] - p['lost']} items (checksum {str(p['checksum'])[:12]}); "
            f"RPO {p['rpo_s']:.3f}s ({p['lost']} items), RTO {p['rto_s']:.3f}s",
            measurements=[
                {"name": "rpo_s", "value": float(p["rpo_s"]), "unit": "s", "store": store},
                {"name": "rto_s", "value": float(p["rto_s"]), "unit": "s", "store": store},
                {"name": "backup_s", "value": float(p["backup_s"]), "unit": "s", "store": store},
            ],
        )

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        return None
