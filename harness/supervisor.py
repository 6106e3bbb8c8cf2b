"""Process supervisor with an on-disk process ledger.

Every process the local platform starts is written to ``<home>/local/ledger.json`` (pid, the
process's create time, command, log file) the moment it exists, and removed when it has been
stopped. Each process gets its own session (``start_new_session``), so stopping it signals its
whole process group (PostgreSQL backends, uvicorn workers).

``cleanup()`` stops everything the ledger names that is still alive -- which is what ``msai
down`` and the next ``msai up`` do after a crashed run. The create time guards against pid
reuse: a recorded pid whose process started at another time is someone else's and is left
alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import psutil

from harness.errors import PlatformError

__all__ = ["Ledger", "LedgerEntry", "Supervised", "alive", "cleanup", "spawn", "stop_entry"]


@dataclass(frozen=True)
class LedgerEntry:
    name: str
    pid: int
    create_time: float
    cmd: list[str]
    log: str
    role: str  # "controller", "envoy", "redis", "replica", ...


class Ledger:
    """The JSON file of running processes; every change is locked and atomically replaced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_suffix(".lock")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, Any]]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self._read()
                yield data
                tmp = self.path.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
                os.replace(tmp, self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def add(self, entry: LedgerEntry) -> None:
        with self._locked() as data:
            data[f"{entry.name}@{entry.pid}"] = asdict(entry)

    def remove(self, entry: LedgerEntry) -> None:
        with self._locked() as data:
            data.pop(f"{entry.name}@{entry.pid}", None)

    def entries(self) -> list[LedgerEntry]:
        out = []
        for v in self._read().values():
            with contextlib.suppress(TypeError):
                out.append(LedgerEntry(**v))
        return out


def alive(entry: LedgerEntry) -> bool:
    """True while the recorded process (same pid AND same start time) runs and is no zombie."""
    try:
        p = psutil.Process(entry.pid)
        if abs(p.create_time() - entry.create_time) > 0.05:
            return False
        return bool(p.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _signal_group(entry: LedgerEntry, sig: int) -> None:
    # Our children lead their own process group (start_new_session); signal the group so
    # grandchildren go too, but never a group we do not lead.
    try:
        if os.getpgid(entry.pid) == entry.pid:
            os.killpg(entry.pid, sig)
        else:
            os.kill(entry.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_members(pid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pid:
                out.append(p)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return out


def stop_entry(entry: LedgerEntry, *, sig: int = signal.SIGTERM, grace_s: float = 10.0) -> None:
    """Send ``sig`` to the entry's group, wait up to ``grace_s``, then SIGKILL what is left."""
    if not alive(entry):
        # The leader is gone; members of its group may still be running (a crashed run).
        for p in _group_members(entry.pid):
            with contextlib.suppress(psutil.Error):
                p.kill()
        return
    _signal_group(entry, sig)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not alive(entry) and not _group_members(entry.pid):
            return
        time.sleep(0.05)
    _signal_group(entry, signal.SIGKILL)
    for p in _group_members(entry.pid):
        with contextlib.suppress(psutil.Error):
            p.kill()
    with contextlib.suppress(psutil.Error):
        psutil.Process(entry.pid).wait(timeout=5)


@dataclass
class Supervised:
    """A process we started: its Popen (to reap it) and its ledger entry."""

    entry: LedgerEntry
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self, ledger: Ledger, *, sig: int = signal.SIGTERM, grace_s: float = 10.0) -> None:
        if self.running():
            _signal_group(self.entry, sig)
            try:
                self.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.entry, signal.SIGKILL)
                self.popen.wait(timeout=10)
        # Leader gone: kill anything left in its group (grandchildren that ignored the signal).
        for p in _group_members(self.entry.pid):
            with contextlib.suppress(psutil.Error):
                p.kill()
        ledger.remove(self.entry)


def spawn(
    ledger: Ledger,
    name: str,
    cmd: Sequence[str],
    *,
    log: Path,
    role: str,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    user: str | None = None,
) -> Supervised:
    """Start ``cmd`` in its own session, output appended to ``log``, and record it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    out: IO[bytes] = open(log, "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        popen = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            user=user,
        )
    except OSError as exc:
        raise PlatformError(f"cannot start {name} ({cmd[0]}): {exc}") from exc
    finally:
        out.close()
    try:
        create_time = psutil.Process(popen.pid).create_time()
    except psutil.Error:
        create_time = time.time()
    entry = LedgerEntry(name, popen.pid, create_time, list(cmd), str(log), role)
    ledger.add(entry)
    return Supervised(entry, popen)


def cleanup(ledger: Ledger, *, grace_s: float = 5.0) -> list[LedgerEntry]:
    """Stop every process the ledger still names (controller first, so nothing restarts them,
    then all others at once); returns the entries that were still alive."""
    entries = ledger.entries()
    was_alive = [e for e in entries if alive(e)]
    for e in (e for e in entries if e.role == "controller"):
        stop_entry(e, grace_s=grace_s)
        ledger.remove(e)
    rest = [e for e in entries if e.role != "controller"]
    for e in rest:
        if alive(e):
            _signal_group(e, signal.SIGINT if e.role == "postgresql" else signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(alive(e) for e in rest):
        time.sleep(0.05)
    for e in rest:
        stop_entry(e, sig=signal.SIGKILL, grace_s=1.0)
        ledger.remove(e)
    return was_alive
