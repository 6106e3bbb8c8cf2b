"""A scenario's ``load:`` block -> a schedule, targets and settings -> a run.

The keys the runner reads beside the shape's own (:mod:`loadtests.shapes`)::

    load:
      shape: open-loop            # or step, spike, ramp, soak
      rate: 40
      duration: 120s
      mix: {ner: 0.7, vision: 0.3}   # route-table names; default: every endpoint evenly
      seed: 7                     # default: the scenario's seed, else MSAI_LOAD_SEED
      workers: 2                  # generator processes; 0 = a thread (default MSAI_LOAD_WORKERS)
      timeout: 5s                 # per request (default MSAI_LOAD_TIMEOUT_S)
      replay: runs/2026-.../arrivals.json   # send exactly these arrivals instead

The schedule always goes to the run record as ``arrivals.json``, so any run can be replayed
with ``replay:``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.durations import parse_duration
from harness.errors import ConfigError
from harness.platform.base import Endpoint
from harness.record import RunRecord
from loadtests.arrivals import Schedule, build_schedule
from loadtests.routes import Target, build_targets
from loadtests.runner import LoadResult, run_load
from loadtests.settings import LoadSettings, load_settings_from_env
from loadtests.shapes import shape_from_spec

__all__ = ["LoadPlan", "plan_load", "run_planned", "run_spec"]

# Endpoint names the default mix spreads over (the route named like the endpoint).
_DEFAULT_ROUTES = ("ner", "vision")


@dataclass(frozen=True)
class LoadPlan:
    schedule: Schedule
    targets: dict[str, Target]
    settings: LoadSettings


def plan_load(
    spec: Mapping[str, Any],
    endpoints: Mapping[str, Endpoint | str],
    *,
    seed: int | None = None,
    source: str | None = None,
    url: str | None = None,
) -> LoadPlan:
    """Everything a load needs, checked before anything starts (errors name the field)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"expected a mapping, got {spec!r}", source=source, field="load")
    base_urls = {k: (e.url if isinstance(e, Endpoint) else str(e)) for k, e in endpoints.items()}
    overrides: dict[str, Any] = {}
    if "workers" in spec:
        workers = spec["workers"]
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ConfigError(
                f"expected a count >= 0, got {workers!r}", source=source, field="load.workers"
            )
        overrides["workers"] = workers
    if "timeout" in spec:
        overrides["timeout_s"] = parse_duration(
            spec["timeout"], source=source, field="load.timeout"
        )
    settings = load_settings_from_env(**overrides)
    if "replay" in spec:
        schedule = Schedule.read(Path(str(spec["replay"])))
    else:
        shape = shape_from_spec(spec, source=source)
        mix = spec.get("mix") or {r: 1.0 for r in _DEFAULT_ROUTES if r in base_urls}
        if not mix:
            raise ConfigError(
                f"no mix given and the platform offers none of {list(_DEFAULT_ROUTES)}",
                source=source,
                field="load.mix",
            )
        raw_seed = spec.get("seed", seed if seed is not None else settings.seed)
        if isinstance(raw_seed, bool) or not isinstance(raw_seed, int):
            raise ConfigError(
                f"expected an integer, got {raw_seed!r}", source=source, field="load.seed"
            )
        schedule = build_schedule(shape, mix, raw_seed, **({"scenario": source} if source else {}))
    targets = build_targets(schedule.routes, base_urls, url=url)
    return LoadPlan(schedule, targets, settings)


def run_planned(
    plan: LoadPlan,
    *,
    record: RunRecord | None = None,
    stop: threading.Event | None = None,
    progress: bool | None = None,
) -> LoadResult:
    return run_load(
        plan.schedule,
        plan.targets,
        settings=plan.settings,
        record=record,
        stop=stop,
        progress=progress,
    )


def run_spec(
    spec: Mapping[str, Any],
    endpoints: Mapping[str, Endpoint | str],
    *,
    record: RunRecord | None = None,
    seed: int | None = None,
    source: str | None = None,
    stop: threading.Event | None = None,
    progress: bool | None = None,
) -> LoadResult:
    """Plan and run a ``load:`` block against the platform's endpoints."""
    plan = plan_load(spec, endpoints, seed=seed, source=source)
    return run_planned(plan, record=record, stop=stop, progress=progress)
