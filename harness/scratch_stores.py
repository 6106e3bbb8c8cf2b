"""Throwaway Redis and PostgreSQL servers for tests and benchmarks (real processes).

Each lives in a folder of its own on a free loopback port and is stopped (and waited for) on
exit, so nothing outlives its ``with`` block. The local platform's supervised, ledgered
dependencies (``harness.platform.local.dependencies``) are for stacks; these are for a test
that needs a store for a few seconds and may stop and restart it on purpose.

    with ScratchRedis(tmp) as redis:      # redis.url -> redis://127.0.0.1:PORT/0
        redis.stop(); redis.start()       # same port, same append-only file: data kept
    with ScratchPostgres(tmp) as pg:      # pg.dsn -> postgresql://postgres@127.0.0.1:PORT/postgres
        ...
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from harness.binaries import find
from harness.errors import PlatformError
from harness.ports import LOOPBACK, free_port

__all__ = ["ScratchPostgres", "ScratchRedis"]


def _wait_port(
    port: int, proc: subprocess.Popen[bytes] | None, what: str, timeout_s: float
) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise PlatformError(f"{what} exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((LOOPBACK, port)) == 0:
                return
        time.sleep(0.05)
    raise PlatformError(f"{what} did not listen on {LOOPBACK}:{port} within {timeout_s}s")


class ScratchRedis:
    """``redis-server`` with the append-only file on. ``fsync``: ``everysec`` (the usual
    production setting; a clean stop or restart keeps every write) or ``always`` (survives a
    machine crash too, at an fsync per write: ~2 ms each on this kind of disk)."""

    def __init__(self, folder: Path, port: int | None = None, *, fsync: str = "everysec") -> None:
        self.folder = folder / "redis"
        self.port = port or free_port()
        self.fsync = fsync
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> ScratchRedis:
        self.folder.mkdir(parents=True, exist_ok=True)
        cmd = [
            find("redis-server"),
            "--port", str(self.port),
            "--bind", LOOPBACK,
            "--dir", str(self.folder),
            "--appendonly", "yes",
            "--appendfsync", self.fsync,
            "--save", "",
            "--daemonize", "no",
        ]  # fmt: skip
        log = (self.folder / "redis.log").open("ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        _wait_port(self.port, self.proc, "redis-server", 10)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> ScratchRedis:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ScratchPostgres:
    """``initdb`` + ``postgres`` (as the ``postgres`` user when run as root: initdb refuses root);
    trust authentication on loopback and a unix socket in its own folder."""

    def __init__(self, folder: Path | None = None, port: int | None = None) -> None:
        # Default: a fresh folder in the temp dir, removed on stop. (pytest's tmp_path sits
        # under a 0700 root folder that the postgres user cannot enter.)
        self._own = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="msai-pg-")) if folder is None else folder / "pg"
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/postgres"

    def _as_user(self) -> dict[str, object]:
        if os.geteuid() != 0:
            return {}
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise PlatformError("running as root needs a 'postgres' user for initdb") from None
        shutil.chown(self.folder, pw.pw_uid, pw.pw_gid)
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def start(self) -> ScratchPostgres:
        self.folder.mkdir(parents=True, exist_ok=True)
        as_user = self._as_user()
        data = self.folder / "data"
        if not data.exists():
            out = subprocess.run(
                [find("initdb"), "-D", str(data), "--auth=trust", "-U", "postgres", "-E", "UTF8"],
                capture_output=True,
                timeout=120,
                check=False,
                **as_user,  # type: ignore[call-overload]
            )
            if out.returncode != 0:
                raise PlatformError(f"initdb failed: {out.stderr.decode()[-600:]}")
        cmd = [
            find("postgres"), "-D", str(data), "-p", str(self.port), "-k", str(self.folder),
            "-c", f"listen_addresses={LOOPBACK}", "-c", "fsync=off",
            "-c", "shared_buffers=32MB", "-c", "max_connections=50",
        ]  # fmt: skip
        log = (self.folder / "postgres.log").open("ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **as_user)  # type: ignore[call-overload]
        log.close()
        _wait_port(self.port, self.proc, "postgres", 30)
        self._wait_ready(30)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        import psycopg

        end = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(self.dsn, connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:  # "the database system is starting up"
                if time.monotonic() > end:
                    raise PlatformError(f"postgres on {self.port} not ready: {exc}") from exc
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: clients are cut off
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> ScratchPostgres:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if self._own:
            shutil.rmtree(self.folder, ignore_errors=True)
