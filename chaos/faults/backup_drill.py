"""``backup_drill``: a data-protection drill on one store (``postgresql``, ``redis``, ``s3``).

Through a real client of the store (psycopg, redis-py, boto3 against the platform's S3)::

    write known data (rows / keys / object versions) -> checksum A
    T_b: platform.backup(store)
    write more (overwrites and new items)             -> checksum B (must differ from A)
    T_loss: lose the drill's data (drop / delete / overwrite)
    platform.restore(store, backup)                   -> checksum must be A again, exactly

RPO = T_loss - T_b (what was written after the backup start is lost; the backup start is the
conservative snapshot point), RTO = restore start -> checksum verified. Both become
``measurement`` events (``rpo_s``, ``rto_s``, with ``store``) through the probe result.

The drill touches only its own data (a scratch table, prefixed keys and objects) before the
restore, and removes it afterwards; a harness killed mid-drill leaves at most that scratch
data lost, so the fault is self-contained (``reverts`` False). Point-in-time recovery from a
WAL archive is not part of it (the local PostgreSQL has no WAL archive configured).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from chaos.base import FaultPlan, ProbeResult
from harness import loopback
from harness.errors import ConfigError, FaultError, Unsupported
from harness.platform.base import Injection, Platform, new_injection_id
from harness.scenario import FaultEntry

__all__ = ["STORES", "BackupDrill", "DataStore", "connect_store"]

STORES = ("postgresql", "redis", "s3")
_TABLE = "chaos_backup_drill"
_PREFIX = "chaos-backup-drill/"


class DataStore(Protocol):
    """The drill's view of one store: only its own items, by key."""

    def put(self, items: dict[str, str]) -> None: ...

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

    def checksum(self) -> str:
        exists = self._exec("SELECT to_regclass(%s) IS NOT NULL", (_TABLE,), fetch=True)
        if not exists[0][0]:
            return _digest([])
        return _digest(
            [(str(k), str(v)) for k, v in self._exec(f"SELECT k, v FROM {_TABLE}", fetch=True)]
        )

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

    def checksum(self) -> str:
        keys = self._keys()
        values = self._client().mget(keys) if keys else []
        return _digest(
            [(k.removeprefix(_PREFIX), str(v)) for k, v in zip(keys, values, strict=True)]
        )

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

    def checksum(self) -> str:
        items = []
        for key in self._keys():
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()
            items.append((key.removeprefix(_PREFIX), body))
        return _digest(items)

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
        items = int(entry.params.get("items", 50))
        if items < 2:
            raise ConfigError("items must be at least 2", field=f"faults[{entry.index}].items")
        return FaultPlan(
            entry,
            self.kind,
            [store],
            {"items": items},
            f"backup drill on {store}: {items} items, back up, write more, lose, restore, verify",
        )

    def inject(self, plan: FaultPlan, platform: Platform) -> list[Injection]:
        store, n = plan.targets[0], int(plan.params["items"])
        db = self.connect(platform, store)
        db.cleanup()
        try:
            db.put({f"k{i:05d}": f"before-{i}" for i in range(n)})
            before = db.checksum()
            t_backup = time.time()
            backup_id = platform.backup(store)  # type: ignore[arg-type]
            backup_s = time.time() - t_backup
            # After the backup: overwrite half, add as many new: what the restore must lose.
            db.put({f"k{i:05d}": f"after-{i}" for i in range(n // 2)})
            db.put({f"k{i:05d}": f"after-{i}" for i in range(n, n + n // 2)})
            after = db.checksum()
            if after == before:
                raise FaultError(f"{store}: writes after the backup changed nothing")
            t_loss = time.time()
            db.lose()
            if db.checksum() in (before, after):
                raise FaultError(f"{store}: the loss left the data in place")
            t_restore = time.time()
            platform.restore(store, backup_id)  # type: ignore[arg-type]
            restored = db.checksum()
            t_verified = time.time()
        finally:
            db.cleanup()
        if restored != before:
            what = "the post-backup state" if restored == after else "neither state"
            raise FaultError(f"{store}: restore {backup_id} brought back {what}, not the backup")
        now = time.time()
        return [
            Injection(
                id=new_injection_id(self.kind),
                platform=platform.name,
                kind=self.kind,
                target=store,
                params={
                    "backup_id": backup_id,
                    "checksum": before,
                    "rpo_s": round(t_loss - t_backup, 4),
                    "rto_s": round(t_verified - t_restore, 4),
                    "backup_s": round(backup_s, 4),
                },
                undo={},  # nothing left to take back: the drill restored and cleaned up
                started=now,
                expires=now,
            )
        ]

    def probe(
        self, plan: FaultPlan, platform: Platform, injections: list[Injection]
    ) -> ProbeResult:
        if not injections:
            return ProbeResult(False, "no drill result")
        p = injections[0].params
        store = plan.targets[0]
        return ProbeResult(
            True,
            f"{store}: backup {p['backup_id']} restored, checksum {str(p['checksum'])[:12]} "
            f"verified; RPO {p['rpo_s']:.3f}s, RTO {p['rto_s']:.3f}s",
            measurements=[
                {"name": "rpo_s", "value": float(p["rpo_s"]), "unit": "s", "store": store},
                {"name": "rto_s", "value": float(p["rto_s"]), "unit": "s", "store": store},
                {"name": "backup_s", "value": float(p["backup_s"]), "unit": "s", "store": store},
            ],
        )

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        return None
