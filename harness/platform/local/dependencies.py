"""The stack's stateful dependencies as real processes: Redis, PostgreSQL, a moto S3 server.

- Redis: ``redis-server`` in the foreground, append-only file on (values ``redis.appendOnly``).
- PostgreSQL: ``initdb`` + ``postgres`` (as the ``postgres`` user when we are root: initdb
  refuses root), the database from ``postgresql.database`` with ``schema.sql`` applied
  (model metadata, run history).
- S3: ``moto_server``; the artifact bucket (``s3.bucket``, versioned) holds the models built in
  ``.models`` under the keys the services' ``modelUri`` name, so servers load from S3 through
  ``AWS_ENDPOINT_URL`` as they would on EKS.

Backups: PostgreSQL ``pg_dump -Fc`` / ``pg_restore --clean``; Redis ``BGSAVE`` and a copy of the
RDB, restored by restarting on it and re-enabling AOF; S3 a manifest of every object's version
id, restored by copying those versions back on top (and deleting keys created since).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.binaries import find
from harness.errors import MissingBinary, PlatformError
from harness.platform.local.probe import http_status, tcp_open, wait_for
from harness.ports import LOOPBACK
from harness.supervisor import Ledger, Supervised, spawn

__all__ = [
    "S3",
    "S3_CREDENTIALS",
    "Postgres",
    "Redis",
    "model_dir_for",
]

# moto accepts any credentials; fixed dummies keep boto3 from looking for real ones.
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def _run(cmd: list[str], what: str, *, user: str | None = None, timeout: float = 120) -> str:
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, user=user
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PlatformError(f"{what} failed: {exc}") from exc
    if out.returncode != 0:
        raise PlatformError(f"{what} failed (exit {out.returncode}): {out.stderr.strip()[-800:]}")
    return out.stdout


@dataclass
class Redis:
    folder: Path
    port: int
    append_only: bool
    proc: Supervised | None = None

    def start(self, ledger: Ledger, logs: Path) -> Supervised:
        self.folder.mkdir(parents=True, exist_ok=True)
        cmd = [
            find("redis-server"),
            "--port",
            str(self.port),
            "--bind",
            LOOPBACK,
            "--dir",
            str(self.folder),
            "--appendonly",
            "yes" if self.append_only else "no",
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
        ]
        self.proc = spawn(ledger, "redis", cmd, log=logs / "redis.log", role="redis")
        return self.proc

    def wait(self, timeout_s: float = 15) -> None:
        proc = self.proc
        wait_for(
            "redis",
            self.ping,
            timeout_s=timeout_s,
            alive=proc.running if proc else None,
            log=proc.entry.log if proc else None,
        )

    def cli(self, *args: str, timeout: float = 10) -> str:
        cmd = [find("redis-cli"), "-h", LOOPBACK, "-p", str(self.port), *args]
        return _run(cmd, f"redis-cli {' '.join(args)}", timeout=timeout).strip()

    def ping(self) -> bool:
        if not tcp_open(self.port):
            return False
        try:
            return self.cli("PING", timeout=2) == "PONG"
        except PlatformError:
            return False

    def backup(self, dest: Path) -> dict[str, Any]:
        before = self.cli("LASTSAVE")
        self.cli("BGSAVE")
        deadline = time.monotonic() + 60
        while self.cli("LASTSAVE") == before:
            if time.monotonic() > deadline:
                raise PlatformError("redis BGSAVE did not finish within 60 s")
            time.sleep(0.05)
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.folder / "dump.rdb", dest / "dump.rdb")
        return {"keys": int(self.cli("DBSIZE") or 0), "sha256": _sha256(dest / "dump.rdb")}

    def restore(self, src: Path, ledger: Ledger, logs: Path) -> None:
        if not (src / "dump.rdb").exists():
            raise PlatformError(f"redis backup {src} has no dump.rdb")
        if self.proc:
            self.proc.stop(ledger)
        # With AOF on, Redis loads the AOF and ignores the RDB: restart on the RDB alone, then
        # switch AOF back on at run time, which rewrites it from the restored data.
        shutil.rmtree(self.folder / "appendonlydir", ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (self.folder / "appendonly.aof").unlink()
        shutil.copy2(src / "dump.rdb", self.folder / "dump.rdb")
        wanted = self.append_only
        self.append_only = False
        try:
            self.start(ledger, logs)
            self.wait()
        finally:
            self.append_only = wanted
        if wanted:
            self.cli("CONFIG", "SET", "appendonly", "yes")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _pg_user() -> str | None:
    """Run PostgreSQL as ``postgres`` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PlatformError(
            "running as root and there is no 'postgres' user: install the Debian package "
            "postgresql (it creates the user) or run as a normal user"
        ) from exc
    return "postgres"


@dataclass
class Postgres:
    folder: Path
    port: int
    database: str
    proc: Supervised | None = None
    extra_schemas: tuple[Path, ...] = ()
    """More idempotent SQL files applied after ours (the orchestrator's tables)."""

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def init(self) -> None:
        user = _pg_user()
        if user and not self._reachable_by(user):
            # The home sits under a folder the postgres user cannot enter (a 0700 temp dir):
            # keep the cluster in a folder of its own under the system temp dir instead.
            digest = hashlib.sha256(str(self.folder).encode()).hexdigest()[:12]
            self.folder = Path(tempfile.gettempdir()) / f"msai-postgresql-{digest}"
        if (self.data / "PG_VERSION").exists():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        if user:
            self.folder.chmod(0o700)
            shutil.chown(self.folder, user)
        cmd = [
            find("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]
        _run(cmd, "initdb", user=user)

    def _reachable_by(self, user: str) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        probe = subprocess.run(
            ["test", "-x", str(self.folder)], user=user, check=False, capture_output=True
        )
        return probe.returncode == 0

    def start(self, ledger: Ledger, logs: Path) -> Supervised:
        cmd = [
            find("postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.data),
            "-c",
            f"listen_addresses={LOOPBACK}",
            "-c",
            "fsync=off",  # a throwaway test database: durability is not what we test
        ]
        self.proc = spawn(
            ledger,
            "postgresql",
            cmd,
            log=logs / "postgresql.log",
            role="postgresql",
            user=_pg_user(),
        )
        return self.proc

    def wait(self, timeout_s: float = 30) -> None:
        proc = self.proc
        wait_for(
            "postgresql",
            self.ready,
            timeout_s=timeout_s,
            alive=proc.running if proc else None,
            log=proc.entry.log if proc else None,
        )

    def ready(self) -> bool:
        if not tcp_open(self.port):
            return False
        try:
            self.psql("postgres", "-c", "SELECT 1", timeout=3)
            return True
        except PlatformError:
            return False

    def psql(self, db: str, *args: str, timeout: float = 30) -> str:
        cmd = [
            find("psql"),
            "-X",
            "-q",
            "-h",
            LOOPBACK,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            *args,
        ]
        return _run(cmd, f"psql {' '.join(args)[:60]}", timeout=timeout)

    def create_schema(self) -> None:
        exists = self.psql(
            "postgres", "-c", f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"
        )
        if not exists.strip():
            self.psql("postgres", "-c", f'CREATE DATABASE "{self.database}"')
        self.psql(self.database, "-f", str(Path(__file__).with_name("schema.sql")))
        for extra in self.extra_schemas:
            self.psql(self.database, "-f", str(extra))

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/{self.database}"

    def backup(self, dest: Path) -> dict[str, Any]:
        dest.mkdir(parents=True, exist_ok=True)
        dump = dest / "db.dump"
        cmd = [
            find("pg_dump"),
            "-Fc",
            "-h",
            LOOPBACK,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-f",
            str(dump),
            self.database,
        ]
        _run(cmd, "pg_dump")
        return {"sha256": _sha256(dump), "bytes": dump.stat().st_size}

    def restore(self, src: Path) -> None:
        dump = src / "db.dump"
        if not dump.exists():
            raise PlatformError(f"postgresql backup {src} has no db.dump")
        cmd = [
            find("pg_restore"),
            "--clean",
            "--if-exists",
            "--single-transaction",
            "-h",
            LOOPBACK,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            self.database,
            str(dump),
        ]
        _run(cmd, "pg_restore")


def model_dir_for(models: Path, service: str, version: str) -> Path | None:
    """The built model folder for a service (``.models/<service>``); None when not built."""
    for cand in (models / service / version, models / service):
        if cand.is_dir() and any(cand.iterdir()):
            return cand
    return None


@dataclass
class S3:
    port: int
    bucket: str
    region: str
    versioning: bool
    proc: Supervised | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, ledger: Ledger, logs: Path) -> Supervised:
        try:
            exe = find("moto_server")
        except MissingBinary as exc:
            raise MissingBinary("moto_server", "pip:moto[server]") from exc
        cmd = [exe, "-H", LOOPBACK, "-p", str(self.port)]
        self.proc = spawn(ledger, "s3", cmd, log=logs / "s3.log", role="s3", env=S3_CREDENTIALS)
        return self.proc

    def wait(self, timeout_s: float = 30) -> None:
        proc = self.proc
        # An HTTP answer, not just an open port: on a loaded machine moto accepted connections
        # and then closed them while its app was still loading (seen as ConnectionClosedError).
        wait_for(
            "moto s3 server",
            lambda: http_status(self.port, "/", timeout=2.0) is not None,
            timeout_s=timeout_s,
            alive=proc.running if proc else None,
            log=proc.entry.log if proc else None,
        )

    def client(self) -> Any:
        import boto3  # heavy: only when S3 is used
        from botocore.config import Config

        # A session per client: boto3's default session is not safe across threads.
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            # moto on a busy machine sometimes drops a connection: retry those, as AWS SDKs do.
            config=Config(retries={"max_attempts": 8, "mode": "standard"}),
            aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def create_bucket(self) -> None:
        s3 = self.client()
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=self.bucket)
        if self.versioning:
            s3.put_bucket_versioning(
                Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"}
            )

    def upload_dir(self, folder: Path, prefix: str) -> int:
        """Upload every file under ``folder`` to ``prefix/<relative path>``; returns the count."""
        s3 = self.client()
        n = 0
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                key = f"{prefix.rstrip('/')}/{path.relative_to(folder).as_posix()}"
                s3.upload_file(str(path), self.bucket, key)
                n += 1
        return n

    def backup(self, dest: Path) -> dict[str, Any]:
        s3 = self.client()
        manifest: dict[str, str] = {}
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket):
            for v in page.get("Versions", []):
                if v.get("IsLatest"):
                    manifest[v["Key"]] = v["VersionId"]
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "versions.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        return {"objects": len(manifest)}

    def restore(self, src: Path) -> None:
        if not self.versioning:
            raise PlatformError("s3 restore needs bucket versioning (values s3.versioning)")
        manifest: dict[str, str] = json.loads((src / "versions.json").read_text())
        s3 = self.client()
        current: dict[str, str] = {}
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket):
            for v in page.get("Versions", []):
                if v.get("IsLatest"):
                    current[v["Key"]] = v["VersionId"]
        for key, version in manifest.items():
            if current.get(key) != version:
                s3.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": self.bucket, "Key": key, "VersionId": version},
                )
        for key in set(current) - set(manifest):
            s3.delete_object(Bucket=self.bucket, Key=key)
