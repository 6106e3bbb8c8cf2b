"""A scenario's ``load:`` block -> a schedule, targets and settings -> a run.

The keys the runner reads beside the shape's own (:mod:`loadtests.shapes`)::

    load:
      shape: open-loop            # or step, spike, ramp, soak
      rate: 40
      duration: 120s
      mix: {ner: 0.7, vision: 0.3}   # route-table names; default: every endpoint evenly
      seed: 7                     # default: the scenario's seed, else MSAI_LOAD_SEED
      workers: 2                  # generator processes; 0 = a thread (default MSAI_LOAD_WORKERS)
      engine: locust              # or native: what sends it (default MSAI_LOAD_ENGINE)
      timeout: 5s                 # per request (default MSAI_LOAD_TIMEOUT_S)
      replay: runs/2026-.../arrivals.json   # send exactly these arrivals instead

The schedule always goes to the run record as ``arrivals.json``, so any run can be replayed
with ``replay:``. A replayed load takes its rate, shape, mix and seed from the file, so those
keys beside ``replay`` are refused rather than ignored (``harness.load_spec.REPLAY_KEYS``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.durations import parse_duration
from harness.errors import ConfigError
from harness.load_spec import REPLAY_KEYS
from harness.platform.base import Endpoint
from harness.record import RunRecord
from loadtests.arrivals import Schedule, build_schedule
from loadtests.routes import Target, build_targets
from loadtests.runner import LoadResult, run_load
from loadtests.settings import ENGINES, LoadSettings, load_settings_from_env
from loadtests.shapes import shape_from_spec

__all__ = ["LoadPlan", "load_duration_s", "plan_load", "run_planned", "run_spec"]

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
    if "engine" in spec:
        if spec["engine"] not in ENGINES:
            raise ConfigError(
                f"expected one of {list(ENGINES)}, got {spec['engine']!r}",
                source=source,
                field="load.engine",
            )
        overrides["engine"] = spec["engine"]
    if "timeout" in spec:
        timeout_s = parse_duration(spec["timeout"], source=source, field="load.timeout")
        if timeout_s <= 0:
            raise ConfigError(
                "a request timeout must be more than 0 s", source=source, field="load.timeout"
            )
        overrides["timeout_s"] = timeout_s
    settings = load_settings_from_env(**overrides)
    if "replay" in spec:
        schedule = _replayed(spec, source)
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


def _replayed(spec: Mapping[str, Any], source: str | None) -> Schedule:
    """The recorded arrivals ``replay:`` names; keys the file overrides are refused."""
    extra = sorted(set(spec) - set(REPLAY_KEYS))
    if extra:
        raise ConfigError(
            f"{extra[0]!r} cannot be used with replay: the arrivals file fixes the rate, "
            f"shape, mix and seed (allowed beside replay: {', '.join(REPLAY_KEYS)})",
            source=source,
            field=f"load.{extra[0]}",
        )
    path = Path(str(spec["replay"]))
    try:
        return Schedule.read(path)
    except ConfigError as exc:
        raise ConfigError(
            f"cannot replay {str(path)!r}: {exc}", source=source, field="load.replay"
        ) from exc


def load_duration_s(spec: Mapping[str, Any], *, source: str | None = None) -> float:
    """Seconds a ``load:`` block lasts (0 for ``shape: none``), as :func:`plan_load` will
    send it: a replay lasts as long as its recorded arrivals. Errors name the field."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"expected a mapping, got {spec!r}", source=source, field="load")
    if spec.get("shape") == "none":
        return 0.0
    if "replay" in spec:
        return _replayed(spec, source).duration_s
    return float(shape_from_spec(spec, source=source).duration_s)


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
