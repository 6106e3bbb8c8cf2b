"""Game-day load profiles by hand, on Locust: the same open-loop arrivals a game day sends.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:18080 \\
        --scenario scenarios/baseline.yaml [--msai-record runs/by-hand] [--headless]
    locust -f loadtests/locustfile.py --host http://127.0.0.1:18080 \\
        --arrivals runs/<id>/arrivals.json --headless     # replay a recorded run exactly

``--scenario`` plans the scenario's ``load:`` block with the game days' planner
(:func:`loadtests.plan.plan_load`, seeded by the scenario's ``seed``); ``--arrivals`` replays
an ``arrivals.json``. Base URLs: ``MSAI_LOAD_ENDPOINTS`` (``name=url,...``), else ``--host``
for every endpoint. The user count follows the schedule's rate (:class:`ScheduleShape`), so
the web UI's user and spawn-rate fields do nothing; the run ends once every arrival was sent
and answered. Locust's statistics count each request once, with its latency from its
intended send time, the same numbers as ``--msai-record``'s ``load_summary`` events.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from locust import events
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment

from harness.errors import ConfigError
from harness.record import RunRecord
from loadtests.arrivals import Schedule
from loadtests.locust_engine import ArrivalEngine, ArrivalUser, ScheduleShape
from loadtests.plan import plan_load
from loadtests.routes import build_targets
from loadtests.settings import load_settings_from_env
from loadtests.timeline import Bucket, Timeline
from loadtests.users import parse_pairs

__all__ = ["ArrivalUser", "ScheduleShape"]

_LEAD_S = 1.0  # from the test's start to the schedule's zero: users are spawned by then


def _options(parser: LocustArgumentParser) -> None:
    parser.add_argument("--scenario", default="", help="scenario YAML whose load: block to run")
    parser.add_argument("--arrivals", default="", help="arrivals.json to replay exactly")
    parser.add_argument(
        "--msai-record", default="", help="folder for a run record (arrivals.json, events)"
    )


def _plan(opts: Any) -> tuple[Schedule, dict[str, Any]]:
    endpoints = parse_pairs(os.environ.get("MSAI_LOAD_ENDPOINTS", ""))
    host = None if endpoints else opts.host
    if not endpoints and not host:
        raise ConfigError("set --host or MSAI_LOAD_ENDPOINTS", field="host")
    if bool(opts.scenario) == bool(opts.arrivals):
        raise ConfigError("give exactly one of --scenario and --arrivals", field="scenario")
    if opts.arrivals:
        schedule = Schedule.read(Path(opts.arrivals))
        return schedule, build_targets(schedule.routes, endpoints, url=host)
    with open(opts.scenario, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("load"), dict):
        raise ConfigError("no load: block", source=opts.scenario, field="load")
    urls = endpoints or {"ner": str(host), "vision": str(host)}
    plan = plan_load(doc["load"], urls, seed=doc.get("seed"), source=opts.scenario, url=host)
    return plan.schedule, plan.targets


class _Run:
    """The engine and the record of the run this process holds."""

    engine: ArrivalEngine | None = None
    timeline: Timeline | None = None
    record: RunRecord | None = None


def _start(environment: Environment, **_: Any) -> None:
    schedule, targets = _plan(environment.parsed_options)
    t0 = time.time() + _LEAD_S
    opts: Any = environment.parsed_options
    folder = opts.msai_record
    record = RunRecord(Path(folder)) if folder else None
    if record is not None:
        schedule.write(record.directory / "arrivals.json")

    def on_second(row: list[Bucket]) -> None:
        if record is not None:
            for b in row:
                record.emit(
                    "load_bucket", t=t0 + b.second + 1, start=t0 + b.second, **b.event_fields()
                )

    timeline = Timeline(1, schedule.routes, on_second)
    engine = ArrivalEngine(
        schedule, targets, load_settings_from_env(), lambda m: timeline.feed(0, m), environment
    )
    _Run.engine, _Run.timeline, _Run.record = engine, timeline, record
    ArrivalUser.engine = ScheduleShape.engine = engine
    engine.start(t0)


def _stop(environment: Environment, **_: Any) -> None:
    engine, timeline, record = _Run.engine, _Run.timeline, _Run.record
    if engine is None or timeline is None:
        return
    engine.close()
    timeline.finish()
    if record is not None:
        duration = max(engine.schedule.duration_s, 1e-9)
        for summary in timeline.summaries(duration).values():
            record.emit("load_summary", **summary.event_fields())
        record.close("inconclusive")  # a load alone judges nothing
    _Run.engine = _Run.timeline = _Run.record = None
    ArrivalUser.engine = ScheduleShape.engine = None


# Locust's hooks are untyped; a typed name for each keeps the listeners checked.
_LISTENERS: list[tuple[Callable[[Callable[..., Any]], Any], Callable[..., Any]]] = [
    (events.init_command_line_parser.add_listener, _options),
    (events.test_start.add_listener, _start),
    (events.test_stop.add_listener, _stop),
]
for _add, _listener in _LISTENERS:
    _add(_listener)
