"""The load of a game day: its duration from the scenario, and the default runner."""

from __future__ import annotations

import re

from harness.errors import ConfigError
from harness.scenario import Scenario
from msai.gameday.model import LoadRequest

__all__ = ["load_duration", "loadtests_runner"]


def loadtests_runner(req: LoadRequest) -> None:
    """The default runner: loadtests' open-loop generator, events into the record."""
    from loadtests.arrivals import build_schedule
    from loadtests.routes import build_targets
    from loadtests.runner import run_load
    from loadtests.shapes import shape_from_spec

    shape = shape_from_spec(req.spec, source=req.source)
    mix = dict(req.spec.get("mix") or {r: 1.0 for r in req.endpoints})
    schedule = build_schedule(shape, mix, req.seed, scenario=req.source)
    targets = build_targets(mix, {r: e.url for r, e in req.endpoints.items()})
    run_load(schedule, targets, record=req.record, stop=req.stop)


def load_duration(scenario: Scenario) -> float:
    """Seconds the load lasts; a bad ``load:`` block raises ConfigError with its line."""
    load = scenario.load
    if load.get("shape", "none") == "none":
        return 0.0
    from loadtests.shapes import shape_from_spec

    try:
        return float(shape_from_spec(load, source=scenario.source).duration_s)
    except ConfigError as exc:
        path = tuple(
            int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", exc.field or "load")
        )
        prefix = f"{exc.source} [{exc.field}]: " if exc.source else f"[{exc.field}]: "
        raise scenario.error(str(exc).removeprefix(prefix), path) from None
