"""A generator worker process: ``python -m loadtests.worker --plan FILE --part I --of N``.

Runs its share of the plan's schedule (:meth:`Schedule.part`) with the open-loop generator and
writes the generator's messages to stdout as JSON lines for the master
(:class:`loadtests.runner.ProcessWorkers`). SIGTERM stops dispatching; requests in flight
finish or time out and the totals are still reported. The plan file::

    {"schedule": arrivals.json data, "targets": {route: Target.to_json()},
     "settings": LoadSettings fields}

Start is two-phase: once the worker is ready to send it prints ``{"type":"ready"}`` and reads
one line ``{"t0": unix_s}`` from stdin, the schedule's zero, shared by every worker.

The same entry point is what a worker pod runs on Kubernetes: the plan mounted from a
ConfigMap, ``--t0`` set a generous lead ahead (pods cannot be handed a line on stdin), its
stdout read from the pod's log stream by a pod-based :class:`~loadtests.runner.WorkerPool`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

from loadtests.arrivals import Schedule
from loadtests.generator import OpenLoopGenerator
from loadtests.routes import Target
from loadtests.settings import LoadSettings

__all__ = ["main", "read_plan"]


def read_plan(path: str) -> tuple[Schedule, dict[str, Target], LoadSettings]:
    with open(path, encoding="utf-8") as f:
        plan: dict[str, Any] = json.load(f)
    return (
        Schedule.from_json(plan["schedule"], source=path),
        {r: Target.from_json(t) for r, t in plan["targets"].items()},
        LoadSettings(**plan["settings"]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.worker")
    parser.add_argument("--plan", required=True)
    parser.add_argument("--part", type=int, required=True)
    parser.add_argument("--of", type=int, required=True, dest="count")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    parser.add_argument(
        "--t0",
        type=float,
        default=None,
        help="the schedule's zero (unix s) given up front, instead of the ready/stdin start "
        "(for workers that cannot be talked to, e.g. pods started with a generous lead)",
    )
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    schedule, targets, settings = read_plan(args.plan)
    import geventhttpclient.response  # noqa: F401  (imported before "ready", not on the clock)

    out = sys.stdout

    def sink(msg: dict[str, Any]) -> None:
        out.write(json.dumps(msg, separators=(",", ":")) + "\n")
        out.flush()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        part = schedule.part(args.part, args.count)
        generator = OpenLoopGenerator(part, targets, settings, 0.0, sink, stop)
    except Exception as exc:  # a bad plan fails before "ready", with one line for the master
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    sink({"type": "ready"})
    if args.t0 is not None:
        generator.t0 = args.t0
    else:
        line = sys.stdin.readline()
        if not line.strip():
            print("the master went away before the start", file=sys.stderr)
            return 1
        generator.t0 = float(json.loads(line)["t0"])
    try:
        generator.run()
    except Exception as exc:  # one line for the master's error message
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
