"""Distributed Locust engine: one master and N workers over Locust's own protocol (ZeroMQ).

    python -m loadtests.locust_dist master --plan F --workers N --bind H --port P
    python -m loadtests.locust_dist worker --master-host H --master-port P   # on each host

The master holds the plan; each worker says hello once it listens, and the i-th to do so gets
the plan and its part ``i`` of ``N`` (:meth:`Schedule.part`, round-robin,
so the union of the parts is the schedule). Each worker builds its
:class:`~loadtests.locust_engine.ArrivalEngine` and answers ready; the master prints
``{"type":"ready"}``, reads the schedule's zero ``{"t0": unix_s}`` on stdin, sends it to every
worker and runs :class:`~loadtests.locust_engine.ScheduleShape` over the whole schedule (at
least one user a worker). Workers send their generator messages back as Locust messages;
the master prints each as ``{"part": i, "msg": {...}}``, and Locust's totals as merged from
the workers' reports last, for
:class:`loadtests.locust_pool.LocustDistributed`, which merges them in one Timeline. SIGTERM
to the master stops dispatching everywhere; requests in flight finish.

Workers need no plan file, only the master's address: they can run on other hosts.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.locust_dist")
    sub = parser.add_subparsers(dest="role", required=True)
    m = sub.add_parser("master")
    m.add_argument("--plan", required=True)
    m.add_argument("--workers", type=int, required=True)
    m.add_argument("--bind", default="127.0.0.1")
    m.add_argument("--port", type=int, required=True)
    m.add_argument("--ready-timeout", type=float, default=60.0)
    w = sub.add_parser("worker")
    w.add_argument("--master-host", required=True)
    w.add_argument("--master-port", type=int, required=True)
    args = parser.parse_args(argv)

    import logging

    logging.getLogger("locust").setLevel(logging.WARNING)
    if args.role == "master":
        return _master(args.plan, args.workers, args.bind, args.port, args.ready_timeout)
    return _worker(args.master_host, args.master_port)


def _emit(msg: dict[str, Any]) -> None:
    import json

    sys.stdout.write(json.dumps(msg, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class _View:
    """The master's view of the run, for the shape: rates of the whole schedule, finished
    when every worker reported its totals."""

    def __init__(self, per_second: list[int], workers: int) -> None:
        import time

        self._clock = time.monotonic
        self.per_second = per_second
        self.workers = workers
        self.base: float | None = None
        self.done: set[int] = set()
        self.users = workers

    @property
    def finished(self) -> bool:
        return len(self.done) >= self.workers

    def users_at(self, t: float) -> int:
        from loadtests.locust_engine import users_for

        self.users = users_for(self.per_second, t, self.users, least=self.workers)
        return self.users

    def elapsed_s(self) -> float:
        return 0.0 if self.base is None else self._clock() - self.base


def _master(plan_path: str, workers: int, bind: str, port: int, ready_timeout: float) -> int:
    import json
    import select
    import signal
    import time

    import gevent
    from locust.env import Environment
    from locust.runners import WORKER_REPORT_INTERVAL

    from loadtests.arrivals import Schedule
    from loadtests.locust_engine import ArrivalUser, ScheduleShape, per_second_counts

    with open(plan_path, encoding="utf-8") as f:
        plan = json.load(f)
    view = _View(per_second_counts(Schedule.from_json(plan["schedule"])), workers)
    ScheduleShape.engine = view
    env = Environment(user_classes=[ArrivalUser], shape_class=ScheduleShape())  # type: ignore[no-untyped-call]
    runner = env.create_master_runner(bind, port)
    parts: dict[str, int] = {}
    ready: set[int] = set()

    ids: list[str] = []

    def on_msg(environment: Any, msg: Any, **_: Any) -> None:
        data: dict[str, Any] = msg.data
        if data.get("type") == "hello":
            # A worker listens for its plan once it says hello (its handlers are registered).
            if msg.node_id not in parts and len(ids) < workers:
                parts[msg.node_id] = len(ids)
                ids.append(msg.node_id)
                share = {**plan, "part": parts[msg.node_id], "of": workers}
                runner.send_message("msai_plan", share, client_id=msg.node_id)
            return
        part = parts.get(msg.node_id)
        if part is None:
            return  # a worker beyond the N this run uses
        if data.get("type") == "ready":
            ready.add(part)
            return
        if data.get("type") == "done":
            view.done.add(part)
        _emit({"part": part, "msg": data})

    runner.register_message("msai", on_msg)
    deadline = time.monotonic() + ready_timeout
    while len(ids) < workers:
        if time.monotonic() > deadline:
            print(f"{len(ids)} of {workers} workers connected", file=sys.stderr)
            runner.quit()
            return 1
        gevent.sleep(0.05)
    while len(ready) < workers:
        if time.monotonic() > deadline:
            print(f"{len(ready)} of {workers} workers ready", file=sys.stderr)
            runner.quit()
            return 1
        gevent.sleep(0.05)
    runner.start_shape()  # users spawn on the workers and wait for the zero
    gevent.sleep(0.5)
    _emit({"type": "ready"})
    select.select([sys.stdin], [], [])  # cooperative: patched by Locust's gevent
    line = sys.stdin.readline()
    if not line.strip():
        runner.quit()
        return 1
    t0 = float(json.loads(line)["t0"])
    view.base = time.monotonic() + (t0 - time.time())
    for client_id in ids:
        runner.send_message("msai_start", {"t0": t0}, client_id=client_id)

    def stop() -> None:
        for client_id in ids:
            runner.send_message("msai_stop", {}, client_id=client_id)

    gevent.signal_handler(signal.SIGTERM, stop)
    gevent.signal_handler(signal.SIGINT, stop)
    while not view.finished:
        gevent.sleep(0.1)
    # Workers report Locust's statistics every WORKER_REPORT_INTERVAL s; wait for the last.
    gevent.sleep(WORKER_REPORT_INTERVAL + 0.5)
    total = env.stats.total
    locust = {"type": "locust", "requests": total.num_requests, "failures": total.num_failures}
    _emit({"part": 0, "msg": locust})
    runner.quit()
    return 0


def _worker(master_host: str, master_port: int) -> int:
    import traceback

    import gevent
    from locust.env import Environment

    from loadtests.arrivals import Schedule
    from loadtests.locust_engine import ArrivalEngine, ArrivalUser
    from loadtests.routes import Target
    from loadtests.settings import LoadSettings

    env = Environment(user_classes=[ArrivalUser])
    runner = env.create_worker_runner(master_host, master_port)
    held: list[ArrivalEngine] = []

    def send(msg: dict[str, Any]) -> None:
        runner.send_message("msai", msg)

    def on_plan(environment: Any, msg: Any, **_: Any) -> None:
        data: dict[str, Any] = msg.data
        try:
            schedule = Schedule.from_json(data["schedule"], source="plan").part(
                int(data["part"]), int(data["of"])
            )
            targets = {r: Target.from_json(t) for r, t in data["targets"].items()}
            engine = ArrivalEngine(
                schedule, targets, LoadSettings(**data["settings"]), send, environment
            )
        except Exception as exc:  # a bad plan: one line for the master's error message
            send({"type": "exit", "rc": 1, "error": f"{type(exc).__name__}: {exc}"})
            traceback.print_exc()
            return
        held.append(engine)
        ArrivalUser.engine = engine
        send({"type": "ready"})

    def finish(engine: ArrivalEngine) -> None:
        while not engine.finished:
            gevent.sleep(0.1)
        engine.close()

    def on_start(environment: Any, msg: Any, **_: Any) -> None:
        engine = held[-1]
        engine.start(float(msg.data["t0"]))
        gevent.spawn(finish, engine)

    def on_stop(environment: Any, msg: Any, **_: Any) -> None:
        for engine in held:
            engine.stop()

    runner.register_message("msai_plan", on_plan)
    runner.register_message("msai_start", on_start)
    runner.register_message("msai_stop", on_stop)
    send({"type": "hello"})
    runner.greenlet.join()  # until the master quits
    return 0


if __name__ == "__main__":
    sys.exit(main())
