"""A Locust-engine worker process: ``python -m loadtests.locust_runner --plan F --part I --of N``.

The same plan file, start and output as :mod:`loadtests.worker` (``{"type":"ready"}``, then
one ``{"t0": unix_s}`` line on stdin; generator messages as JSON lines on stdout), so
:class:`loadtests.runner.ProcessWorkers` runs it unchanged. Inside, Locust's local runner
drives :class:`~loadtests.locust_engine.ArrivalUser` users under
:class:`~loadtests.locust_engine.ScheduleShape`. Locust monkey-patches this process, which is
why it is one of its own. The last line before ``done`` holds Locust's own totals
(``{"type": "locust", "requests": n, "failures": n}``) so the two can be compared.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.locust_runner")
    parser.add_argument("--plan", required=True)
    parser.add_argument("--part", type=int, required=True)
    parser.add_argument("--of", type=int, required=True, dest="count")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    args = parser.parse_args(argv)

    import json
    import logging
    import os
    import select
    import signal

    import gevent
    from locust.env import Environment

    from loadtests.locust_engine import ArrivalEngine, ArrivalUser, ScheduleShape
    from loadtests.worker import read_plan

    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    logging.getLogger("locust").setLevel(logging.WARNING)
    out = sys.stdout

    def sink(msg: dict[str, Any]) -> None:
        out.write(json.dumps(msg, separators=(",", ":")) + "\n")
        out.flush()

    try:
        schedule, targets, settings = read_plan(args.plan)
        part = schedule.part(args.part, args.count)
        env = Environment(user_classes=[ArrivalUser], shape_class=ScheduleShape())  # type: ignore[no-untyped-call]
        engine = ArrivalEngine(part, targets, settings, sink, env)
    except Exception as exc:  # a bad plan fails before "ready", with one line for the master
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    ArrivalUser.engine = engine
    ScheduleShape.engine = engine
    runner = env.create_local_runner()
    gevent.signal_handler(signal.SIGTERM, engine.stop)
    gevent.signal_handler(signal.SIGINT, engine.stop)
    runner.start_shape()
    # Users are spawned and waiting on the engine before the master picks the zero.
    for _ in range(200):
        if runner.user_count >= 1:
            break
        gevent.sleep(0.01)
    sink({"type": "ready"})
    select.select([sys.stdin], [], [])  # cooperative: patched by Locust's gevent
    line = sys.stdin.readline()
    if not line.strip():
        print("the master went away before the start", file=sys.stderr)
        runner.quit()
        return 1
    try:
        engine.start(float(json.loads(line)["t0"]))
        while not engine.finished:
            gevent.sleep(0.1)
    finally:
        runner.quit()
        total = env.stats.total
        sink({"type": "locust", "requests": total.num_requests, "failures": total.num_failures})
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
