"""Runs a load: the master side. In-process (one generator in a thread) or distributed (N
worker processes), with the same results either way.

    schedule + targets -> plan -> generators (WorkerPool) -> messages -> Timeline
        -> load_bucket events (live) + load_summary events + arrivals.json -> LoadResult

:class:`WorkerPool` is the seam for where generators run: :class:`ThreadWorkers` (in this
process, no monkey-patching), :class:`ProcessWorkers` (``python -m loadtests.worker`` here);
a pod-based pool for Kubernetes implements the same four methods with the same messages.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import queue
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from harness.errors import PlatformError
from harness.record import RunRecord
from loadtests.arrivals import Schedule
from loadtests.generator import OpenLoopGenerator
from loadtests.progress import Progress
from loadtests.routes import Target
from loadtests.settings import LoadSettings, load_settings_from_env
from loadtests.timeline import ALL, Bucket, RouteSummary, Timeline

__all__ = [
    "LoadResult",
    "ProcessWorkers",
    "ThreadWorkers",
    "WorkerPool",
    "default_pool",
    "run_load",
]

Message = tuple[int, dict[str, Any]]


class WorkerPool(Protocol):
    """Where generators run. Messages are ``(worker index, generator message)``; a worker that
    ends puts ``(index, {"type": "exit", "rc": int, "error": str})``."""

    count: int

    def start(self, plan: dict[str, Any], messages: queue.Queue[Message], lead_s: float) -> float:
        """Start every generator; return ``t0`` (unix s), the time of the schedule's zero,
        chosen ``lead_s`` after every generator is ready to send."""
        ...

    def stop(self) -> None:
        """Ask every generator to stop dispatching (in-flight requests still finish)."""
        ...

    def close(self) -> None:
        """Release everything; no process or thread outlives this call."""
        ...


class ThreadWorkers:
    """One generator in a thread of this process (its own gevent hub, nothing patched)."""

    count = 1

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, plan: dict[str, Any], messages: queue.Queue[Message], lead_s: float) -> float:
        t0 = time.time() + lead_s  # a thread starts at once
        generator = OpenLoopGenerator(
            plan["schedule_obj"],
            plan["targets_obj"],
            plan["settings_obj"],
            t0,
            lambda msg: messages.put((0, msg)),
            self._stop,
        )

        def run() -> None:
            try:
                generator.run()
            except Exception as exc:
                messages.put(
                    (0, {"type": "exit", "rc": 1, "error": f"{type(exc).__name__}: {exc}"})
                )
            else:
                messages.put((0, {"type": "exit", "rc": 0, "error": ""}))

        self._thread = threading.Thread(target=run, name="msai-load-generator", daemon=True)
        self._thread.start()
        return t0

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            if self._thread.is_alive():
                raise PlatformError("load generator thread did not stop within 30 s")


class ProcessWorkers:
    """``count`` worker processes on this machine; ``cpus`` pins worker i to cpus[i % len].
    ``module`` is what each runs: the native generator, or Locust's runner
    (:mod:`loadtests.locust_runner`), which speak the same messages."""

    def __init__(
        self,
        count: int,
        *,
        cpus: list[int] | None = None,
        ready_timeout_s: float = 60.0,
        module: str = "loadtests.worker",
    ) -> None:
        if count < 1:
            raise ValueError("count must be >= 1")
        self.count = count
        self.module = module  # the worker entry point: loadtests.worker or .locust_runner
        self.cpus = cpus
        self.ready_timeout_s = ready_timeout_s
        self._procs: list[subprocess.Popen[str]] = []
        self._readers: list[threading.Thread] = []
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def start(self, plan: dict[str, Any], messages: queue.Queue[Message], lead_s: float) -> float:
        self._dir = tempfile.TemporaryDirectory(prefix="msai-load-")
        path = Path(self._dir.name) / "plan.json"
        body = {k: v for k, v in plan.items() if not k.endswith("_obj")}
        path.write_text(json.dumps(body), encoding="utf-8")
        for i in range(self.count):
            cmd = [sys.executable, "-m", self.module, f"--plan={path}"]
            cmd += [f"--part={i}", f"--of={self.count}"]
            if self.cpus:
                cmd.append(f"--cpu={self.cpus[i % len(self.cpus)]}")
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
            self._procs.append(proc)
        # Two-phase start: every worker has imported, read the plan and built its generator
        # before the schedule's zero is chosen, so a slow start is not counted as lag.
        deadline = time.monotonic() + self.ready_timeout_s
        for i, proc in enumerate(self._procs):
            _await_ready(i, proc, deadline)
        t0 = time.time() + lead_s
        for proc in self._procs:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"t0": t0}) + "\n")
            proc.stdin.close()
        for i, proc in enumerate(self._procs):
            reader = threading.Thread(target=_read_worker, args=(i, proc, messages), daemon=True)
            reader.start()
            self._readers.append(reader)
        return t0

    def stop(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        for reader in self._readers:
            reader.join(timeout=5)
        for proc in self._procs:  # pipes no reader took over (a start that failed)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None and not pipe.closed:
                    pipe.close()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]


def _await_ready(index: int, proc: subprocess.Popen[str], deadline: float) -> None:
    stdout = proc.stdout
    assert stdout is not None
    remaining = max(deadline - time.monotonic(), 0.0)
    ready, _, _ = select.select([stdout], [], [], remaining)
    line = stdout.readline() if ready else ""
    if line.strip() == '{"type":"ready"}':
        return
    if not ready:
        why = f"not ready within {remaining:.0f} s"
    else:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        err = proc.stderr.read()[-2000:].strip() if proc.stderr is not None else ""
        why = f"exit {proc.returncode}: {err}" if proc.returncode is not None else line[:200]
    raise PlatformError(f"load generator failed: worker {index} ({why})")


def _read_worker(index: int, proc: subprocess.Popen[str], out: queue.Queue[Message]) -> None:
    stdout: IO[str] | None = proc.stdout
    assert stdout is not None
    for raw in stdout:
        line = raw.strip()
        if line:
            try:
                out.put((index, json.loads(line)))
            except json.JSONDecodeError:
                out.put((index, {"type": "exit", "rc": 1, "error": f"bad line: {line[:200]}"}))
    stdout.close()
    rc = proc.wait()
    err = ""
    if proc.stderr is not None:
        err = proc.stderr.read()
        proc.stderr.close()
    out.put((index, {"type": "exit", "rc": rc, "error": err[-4000:]}))


def default_pool(settings: LoadSettings) -> WorkerPool:
    """Where ``settings`` says to run: Locust's runner in a process of its own (it
    monkey-patches, so never in this one), or with ``workers`` >= 2 a Locust master and that
    many workers over Locust's protocol; else the native generator in ``workers`` processes
    or a thread."""
    if settings.engine == "locust":
        if settings.workers >= 2:
            from loadtests.locust_pool import LocustDistributed

            return LocustDistributed(settings.workers)
        return ProcessWorkers(1, module=LOCUST_WORKER)
    return ProcessWorkers(settings.workers) if settings.workers else ThreadWorkers()


LOCUST_WORKER = "loadtests.locust_runner"


@dataclass
class LoadResult:
    schedule: Schedule
    t0: float
    duration_s: float
    seconds: list[list[Bucket]]
    summaries: dict[str, RouteSummary]
    unsent: int
    stopped: bool
    cpu_s: float = 0.0  # CPU time the generators used (all workers together)
    last_dispatch_s: float = 0.0  # when the last request went out, seconds from t0
    locust_requests: int | None = None  # Locust's own counts (engine: locust), else None
    locust_failures: int | None = None

    @property
    def achieved_rate(self) -> float:
        """Requests actually sent per second, over the schedule or until the last one went
        out if that was later: below the target rate when the generator fell behind."""
        span = max(self.duration_s, self.last_dispatch_s)
        return self.summary().sent / span if span > 0 else 0.0

    def summary(self, route: str = ALL) -> RouteSummary:
        return self.summaries[route]

    def buckets(self, route: str = ALL) -> list[Bucket]:
        return [b for row in self.seconds for b in row if b.route == route]


def run_load(
    schedule: Schedule,
    targets: Mapping[str, Target],
    *,
    settings: LoadSettings | None = None,
    pool: WorkerPool | None = None,
    record: RunRecord | None = None,
    progress: bool | None = None,
    stop: threading.Event | None = None,
) -> LoadResult:
    """Send ``schedule`` to ``targets``; blocks until the load is over.

    ``pool`` defaults to :func:`default_pool` (``settings.engine`` and ``settings.workers``). With a
    ``record``, ``arrivals.json`` is written first, then a ``load_bucket`` event per route and
    second as the seconds finish, then a ``load_summary`` per route and for ``"all"``. Setting
    ``stop`` (or Ctrl-C) stops dispatching; what was measured is still returned and recorded.
    """
    s = settings or load_settings_from_env()
    pool = pool or default_pool(s)
    if record is not None:
        schedule.write(record.directory / "arrivals.json")  # compact: soaks hold many
    plan = {
        "schedule": schedule.to_json(),
        "targets": {r: t.to_json() for r, t in targets.items() if r in schedule.routes},
        "settings": dataclasses.asdict(s),
        "schedule_obj": schedule,
        "targets_obj": targets,
        "settings_obj": s,
    }
    show = Progress(schedule.duration_s, s.progress_every_s, enabled=progress)

    def on_second(row: list[Bucket]) -> None:
        if record is not None:
            for b in row:
                fields = b.event_fields()
                record.emit("load_bucket", t=t0 + b.second + 1, start=t0 + b.second, **fields)
        show.second(row[-1])

    timeline = Timeline(pool.count, schedule.routes, on_second)
    messages: queue.Queue[Message] = queue.Queue()
    failures: list[str] = []
    stopped = False
    exited: set[int] = set()
    try:
        t0 = pool.start(plan, messages, s.start_delay_s)
    except BaseException:
        pool.close()
        raise
    try:
        while len(exited) < pool.count:
            try:
                index, msg = messages.get(timeout=0.2)
            except queue.Empty:
                if stop is not None and stop.is_set() and not stopped:
                    stopped = True
                    pool.stop()
                continue
            if msg.get("type") == "exit":
                exited.add(index)
                if index not in timeline.finished_sources:
                    failures.append(f"worker {index} (exit {msg['rc']}): {msg['error']}")
                    timeline.feed(index, {"type": "tick", "upto": 10**9})
                continue
            timeline.feed(index, msg)
    except KeyboardInterrupt:
        pool.stop()
        stopped = True
        raise
    finally:
        pool.close()
        timeline.finish()
    duration = max(schedule.duration_s, 1e-9)
    locust = s.engine == "locust"
    summaries = timeline.summaries(duration)
    if record is not None:
        for summary in summaries.values():
            record.emit("load_summary", engine=s.engine, **summary.event_fields())
    show.done(summaries[ALL])
    if failures:
        raise PlatformError("load generator failed: " + "; ".join(failures))
    return LoadResult(
        schedule,
        t0,
        duration,
        timeline.seconds,
        summaries,
        timeline.unsent,
        stopped,
        timeline.cpu_s,
        timeline.last_dispatch_s,
        timeline.locust_requests if locust else None,
        timeline.locust_failures if locust else None,
    )
