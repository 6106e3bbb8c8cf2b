"""The load of a game day: its duration from the scenario, and the default runner."""

from __future__ import annotations

import re

from harness.errors import ConfigError
from harness.scenario import Scenario
from msai.gameday.model import LoadRequest

__all__ = ["load_duration", "loadtests_runner"]


def loadtests_runner(req: LoadRequest) -> None:
    """The default runner: :mod:`loadtests.plan`, so a game day honours every key of its
    ``load:`` block (mix, seed, workers, engine, timeout, replay) as ``msai load`` does."""
    from loadtests.plan import plan_load, run_planned

    plan = plan_load(req.spec, req.endpoints, seed=req.seed, source=req.source)
    run_planned(plan, record=req.record, stop=req.stop)


def load_duration(scenario: Scenario) -> float:
    """Seconds the load lasts (a replay: its recorded arrivals'); a bad ``load:`` block
    raises ConfigError with its line."""
    from loadtests.plan import load_duration_s

    try:
        return load_duration_s(scenario.load, source=scenario.source)
    except ConfigError as exc:
        path = tuple(
            int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", exc.field or "load")
        )
        prefix = f"{exc.source} [{exc.field}]: " if exc.source else f"[{exc.field}]: "
        raise scenario.error(str(exc).removeprefix(prefix), path) from None
