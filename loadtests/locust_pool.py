"""A :class:`~loadtests.runner.WorkerPool` of one Locust master and N Locust workers.

The master (``python -m loadtests.locust_dist master``) talks to its workers over Locust's
own protocol and relays their messages on its stdout as ``{"part": i, "msg": {...}}``; this
pool reads them into the runner's queue as ``(i, msg)``, so the run is merged by the same
Timeline as any other pool. Workers are started here by default; ``wrap`` puts a command in
front of worker i's (``["ip", "netns", "exec", "ns0"]``: a worker on another network host),
and ``master_host`` is the address workers reach the master at. Nothing here imports
Locust: the master and the workers are processes of their own.
"""

from __future__ import annotations

import contextlib
import json
import queue
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import PlatformError
from harness.ports import LOOPBACK, free_port

__all__ = ["LocustDistributed"]

Message = tuple[int, dict[str, Any]]


class LocustDistributed:
    """``count`` Locust workers under one master; ``bind`` is the master's address."""

    def __init__(
        self,
        count: int,
        *,
        bind: str = LOOPBACK,
        master_host: str | None = None,
        wrap: Sequence[Sequence[str]] = (),
        ready_timeout_s: float = 60.0,
    ) -> None:
        if count < 1:
            raise ValueError("count must be >= 1")
        self.count = count
        self.bind = bind
        self.master_host = master_host or bind
        self.wrap = [list(w) for w in wrap]
        self.ready_timeout_s = ready_timeout_s
        self._master: subprocess.Popen[str] | None = None
        self._workers: list[subprocess.Popen[str]] = []
        self._reader: threading.Thread | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def start(self, plan: dict[str, Any], messages: queue.Queue[Message], lead_s: float) -> float:
        self._dir = tempfile.TemporaryDirectory(prefix="msai-locust-")
        path = Path(self._dir.name) / "plan.json"
        body = {k: v for k, v in plan.items() if not k.endswith("_obj")}
        path.write_text(json.dumps(body), encoding="utf-8")
        port = free_port()
        cmd = [sys.executable, "-m", "loadtests.locust_dist", "master", f"--plan={path}"]
        cmd += [f"--workers={self.count}", f"--bind={self.bind}", f"--port={port}"]
        cmd += [f"--ready-timeout={self.ready_timeout_s}"]
        self._master = master = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        for i in range(self.count):
            prefix = self.wrap[i % len(self.wrap)] if self.wrap else []
            worker = [*prefix, sys.executable, "-m", "loadtests.locust_dist", "worker"]
            worker += [f"--master-host={self.master_host}", f"--master-port={port}"]
            self._workers.append(
                subprocess.Popen(
                    worker, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
                )
            )
        assert master.stdout is not None
        assert master.stdin is not None
        ready, _, _ = select.select([master.stdout], [], [], self.ready_timeout_s + 5)
        line = master.stdout.readline() if ready else ""
        if line.strip() != '{"type":"ready"}':
            with contextlib.suppress(subprocess.TimeoutExpired):
                master.wait(timeout=5)
            done = master.poll() is not None and master.stderr is not None
            err = master.stderr.read()[-2000:].strip() if done and master.stderr else ""
            why = err if master.returncode is not None else f"no ready line: {line[:200]!r}"
            raise PlatformError(f"Locust master failed: {why}")
        # Users are spawned on the workers by now; the zero leaves time for the start message.
        t0 = time.time() + max(lead_s, 0.5)
        master.stdin.write(json.dumps({"t0": t0}) + "\n")
        master.stdin.close()
        self._reader = threading.Thread(target=self._read, args=(messages,), daemon=True)
        self._reader.start()
        return t0

    def _read(self, out: queue.Queue[Message]) -> None:
        master = self._master
        assert master is not None
        assert master.stdout is not None
        for raw in master.stdout:
            line = raw.strip()
            if not line:
                continue
            try:
                data = json.loads(line)
                out.put((int(data["part"]), data["msg"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                out.put((0, {"type": "exit", "rc": 1, "error": f"bad line: {line[:200]}"}))
        rc = master.wait()
        err = master.stderr.read()[-4000:] if master.stderr is not None else ""
        for i in range(self.count):
            out.put((i, {"type": "exit", "rc": rc, "error": err}))

    def stop(self) -> None:
        if self._master is not None and self._master.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._master.terminate()

    def close(self) -> None:
        procs = [p for p in (self._master, *self._workers) if p is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=5)
        for proc in procs:
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None and not pipe.closed:
                    pipe.close()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
