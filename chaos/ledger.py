"""The fault ledger: every fault is on disk before it starts, and until it is rolled back.

Layout under the harness home (``MSAI_HOME``, default ``<repo>/.msai``)::

    faults/open/<entry>.json   one file per fault not yet rolled back (written atomically:
                               temp file, fsync, rename, fsync of the folder)
    faults/ledger.jsonl        history, append-only, fsync'd: open / injected / rolled_back /
                               rollback_failed / abandoned

An entry is written ``pending`` (the plan: kind, targets, params) BEFORE the platform is asked
to inject, updated to ``injected`` with each :class:`Injection` (its ``undo`` data) as soon as
the platform returns, and its file removed once rolled back. The owner's pid and process start
time are in the entry, so a later process can tell a fault whose harness died (an orphan) from
one that a live game day holds. :func:`recover_orphans` reverts orphans through the platform
named in the entry; ``msai`` calls it before every command, and the pytest plugin at the start
of every session, when ``faults/open`` is not empty.

The window between the platform's ``inject`` returning and ``injected`` reaching the disk is
microseconds; a crash inside it leaves a ``pending`` entry, which recovery reverts from the
plan (``undo.from_plan``: every platform reverts by kind and target) and, if the platform
cannot, reports as abandoned with what to do.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil

from harness.platform.base import Injection, Platform
from harness.settings import settings

__all__ = [
    "Ledger",
    "LedgerEntry",
    "RecoveryReport",
    "has_open_entries",
    "ledger_dir",
    "recover_orphans",
]

OPEN, INJECTED, ROLLED_BACK, FAILED, ABANDONED = (
    "pending",
    "injected",
    "rolled_back",
    "rollback_failed",
    "abandoned",
)

# chaos kind -> the platform's Injection kind, to revert a pending entry from its plan
_PLATFORM_KIND = {
    "drain": "drain",
    "spot_interruption": "spot_interrupt",
    "mesh_delay": "mesh_fault",
    "mesh_abort": "mesh_fault",
    "dependency_outage": "outage",
    "partition": "partition",
    "canary_fault": "replica_fault",  # target: the service; the hooks are on its canary
}


def ledger_dir(home: Path | None = None) -> Path:
    return (home or settings().home_path) / "faults"


def has_open_entries(home: Path | None = None) -> bool:
    """Cheap: one ``scandir``; what ``msai`` runs before every command."""
    try:
        with os.scandir(ledger_dir(home) / "open") as it:
            return any(e.name.endswith(".json") for e in it)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _process_started(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


@dataclass(frozen=True)
class LedgerEntry:
    id: str
    run_id: str
    platform: str
    kind: str
    targets: list[str]
    plan: dict[str, Any]
    state: str = OPEN
    injections: list[dict[str, Any]] = field(default_factory=list)
    pid: int = field(default_factory=os.getpid)
    pid_started: float | None = field(default_factory=lambda: _process_started(os.getpid()))
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "platform": self.platform,
            "kind": self.kind,
            "targets": self.targets,
            "plan": self.plan,
            "state": self.state,
            "injections": self.injections,
            "pid": self.pid,
            "pid_started": self.pid_started,
            "created": self.created,
            "updated": self.updated,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LedgerEntry:
        return cls(**data)

    def owner_alive(self) -> bool:
        """True when the process that wrote the entry still runs (same pid AND start time)."""
        started = _process_started(self.pid)
        if started is None:
            return False
        return self.pid_started is None or abs(started - self.pid_started) < 1.0

    def as_injections(self) -> list[Injection]:
        return [Injection.from_json(i) for i in self.injections]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Ledger:
    """The on-disk ledger. Safe across threads of one process and across processes."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory else ledger_dir()
        self.open_dir = self.directory / "open"
        self.open_dir.mkdir(parents=True, exist_ok=True)
        self.history = self.directory / "ledger.jsonl"
        self._lock = threading.Lock()

    # writing ---------------------------------------------------------------------------
    def _write(self, entry: LedgerEntry) -> None:
        path = self.open_dir / f"{entry.id}.json"
        tmp = self.open_dir / f".{entry.id}.tmp"
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(entry.to_json(), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.open_dir)

    def _append(self, event: str, entry: LedgerEntry) -> None:
        line = json.dumps({"t": time.time(), "event": event, **entry.to_json()})
        fd = os.open(self.history, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def open(
        self, *, run_id: str, platform: str, kind: str, targets: list[str], plan: dict[str, Any]
    ) -> LedgerEntry:
        """Record a fault about to start. Call BEFORE asking the platform to inject it."""
        entry = LedgerEntry(
            id=f"{kind}-{uuid.uuid4().hex[:10]}",
            run_id=run_id,
            platform=platform,
            kind=kind,
            targets=list(targets),
            plan=plan,
        )
        with self._lock:
            self._write(entry)
            self._append("open", entry)
        return entry

    def injected(self, entry: LedgerEntry, injections: list[Injection]) -> LedgerEntry:
        """Record what the platform returned: the undo data recovery needs."""
        new = replace(
            entry,
            state=INJECTED,
            injections=[i.to_json() for i in injections],
            updated=time.time(),
        )
        with self._lock:
            self._write(new)
            self._append("injected", new)
        return new

    def rolled_back(self, entry: LedgerEntry) -> None:
        """The fault is gone: history line first, then the open file goes."""
        done = replace(entry, state=ROLLED_BACK, updated=time.time(), error=None)
        with self._lock:
            self._append(ROLLED_BACK, done)
            with suppress(FileNotFoundError):
                (self.open_dir / f"{entry.id}.json").unlink()
            _fsync_dir(self.open_dir)

    def failed(self, entry: LedgerEntry, error: str, *, abandon: bool = False) -> LedgerEntry:
        """Rollback failed: keep the entry open (the next msai retries) unless abandoned."""
        state = ABANDONED if abandon else FAILED
        new = replace(entry, state=state, updated=time.time(), error=error)
        with self._lock:
            self._append(state, new)
            if abandon:
                with suppress(FileNotFoundError):
                    (self.open_dir / f"{entry.id}.json").unlink()
                _fsync_dir(self.open_dir)
            else:
                self._write(new)
        return new

    # reading ---------------------------------------------------------------------------
    def entries(self) -> list[LedgerEntry]:
        """Open entries, oldest first. A corrupt file is reported as such, never skipped."""
        out = []
        for path in sorted(self.open_dir.glob("*.json")):
            try:
                out.append(LedgerEntry.from_json(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError) as exc:
                out.append(
                    LedgerEntry(
                        id=path.stem,
                        run_id="?",
                        platform="?",
                        kind="?",
                        targets=[],
                        plan={},
                        state=FAILED,
                        pid=-1,
                        pid_started=None,
                        error=f"unreadable ledger entry {path}: {exc}",
                    )
                )
        return sorted(out, key=lambda e: e.created)

    def orphans(self) -> list[LedgerEntry]:
        return [e for e in self.entries() if not e.owner_alive()]

    def history_lines(self) -> Iterator[dict[str, Any]]:
        if not self.history.exists():
            return
        for line in self.history.read_text(encoding="utf-8").splitlines():
            with suppress(ValueError):
                yield json.loads(line)


@dataclass
class RecoveryReport:
    reverted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # owned by a live process: left alone

    def lines(self) -> list[str]:
        out = [f"rolled back fault left by a dead run: {x}" for x in self.reverted]
        out += [
            f"could NOT roll back {x}; will retry on the next msai command" for x in self.failed
        ]
        out += [
            f"gave up on {x}: no undo data was recorded; `msai down` resets the stack"
            for x in self.abandoned
        ]
        return out


def _intent_injection(entry: LedgerEntry) -> Injection | None:
    """An Injection rebuilt from the plan, for a fault whose harness died mid-inject."""
    kind = _PLATFORM_KIND.get(entry.kind)
    if kind is None or not entry.targets:
        return None
    target = "|".join(entry.targets) if entry.kind == "partition" else entry.targets[0]
    return Injection(
        id=f"{entry.id}-intent",
        platform=entry.platform,
        kind=kind,
        target=target,
        params=dict(entry.plan.get("params", {})),
        undo={"from_plan": True, "targets": entry.targets},
        started=entry.created,
    )


def recover_orphans(
    resolve: Callable[[str], Platform], ledger: Ledger | None = None
) -> RecoveryReport:
    """Revert every open entry whose owner process is gone. Never raises for one bad entry:
    what cannot be reverted stays in the ledger (retried next time) and is reported."""
    ledger = ledger or Ledger()
    report = RecoveryReport()
    platforms: dict[str, Platform] = {}
    for entry in ledger.entries():
        if entry.pid > 0 and entry.owner_alive():
            report.busy.append(entry.id)
            continue
        if entry.kind == "?":
            report.failed.append(f"{entry.id}: {entry.error}")
            continue
        injections = entry.as_injections()
        if not injections and entry.state == OPEN:
            intent = _intent_injection(entry)
            if intent is None:
                # kill/restart: nothing to revert, the platform heals by itself
                ledger.rolled_back(entry)
                report.reverted.append(f"{entry.id} (nothing to revert)")
                continue
            injections = [intent]
        try:
            platform = platforms.get(entry.platform) or resolve(entry.platform)
            platforms[entry.platform] = platform
            for inj in injections:
                if inj.undo or inj.kind in _PLATFORM_KIND.values():
                    platform.revert(inj)
        except Exception as exc:  # reported and retried; one bad entry must not stop msai
            msg = f"{entry.id} ({entry.kind} on {entry.targets}): {type(exc).__name__}: {exc}"
            abandon = entry.state == OPEN  # no undo data: retrying cannot do better
            ledger.failed(entry, msg, abandon=abandon)
            (report.abandoned if abandon else report.failed).append(msg)
            continue
        ledger.rolled_back(entry)
        report.reverted.append(f"{entry.id} ({entry.kind} on {', '.join(entry.targets)})")
    return report
