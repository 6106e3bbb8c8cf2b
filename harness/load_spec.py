"""A scenario's ``load:`` block as the file format declares it: every key the schema accepts
is one the load planner (``loadtests.plan.plan_load``) honours, and a key it would ignore is
refused here with its file, line and field.

Keys, by who reads them::

    shape: open-loop | constant | soak | step | spike | ramp | none
    rate, duration, steps, from, to, by, every, peak, at, for   # the shape's own (per shape)
    mix: {ner: 0.7, vision: 0.3}    # route-table names -> weights
    seed: 7                         # arrivals are seeded
    workers: 2                      # generator processes; 0 = a thread in this process
    engine: locust                  # what sends the arrivals: native (default) or locust
    timeout: 5s                     # each request's client timeout
    replay: runs/.../arrivals.json  # send exactly these recorded arrivals (relative paths from
                                    # the working directory); the file carries rate, shape,
                                    # mix and seed, so those keys are refused beside it

``loadtests.shapes.SHAPES`` holds the same shape -> keys table (a test compares the two);
this copy lets a scenario fail at load time, before anything is brought up or injected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from harness.durations import parse_duration
from harness.errors import ConfigError

__all__ = [
    "LOAD_RUNNER_KEYS",
    "LOAD_SHAPE_KEYS",
    "REPLAY_KEYS",
    "check_load",
    "load_schema",
]

#: shape -> the keys of its own (``loadtests.shapes.SHAPES`` declares the same)
LOAD_SHAPE_KEYS: dict[str, tuple[str, ...]] = {
    "open-loop": ("rate", "duration"),
    "constant": ("rate", "duration"),
    "soak": ("rate", "duration"),
    "step": ("steps", "from", "to", "by", "every"),
    "spike": ("rate", "peak", "at", "for", "duration"),
    "ramp": ("from", "to", "duration"),
}
#: keys the planner reads beside the shape's own
LOAD_RUNNER_KEYS: tuple[str, ...] = (
    "shape",
    "mix",
    "seed",
    "workers",
    "engine",
    "timeout",
    "replay",
)
#: the only keys a replayed load may carry (the arrivals file holds the rest)
REPLAY_KEYS: tuple[str, ...] = ("shape", "replay", "workers", "engine", "timeout")

_RATE = {"type": "number", "minimum": 0}


def load_schema(duration: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON schema of ``load:``; ``duration`` is the scenario's duration schema."""
    shape_rules = [
        {
            "if": {"properties": {"shape": {"const": shape}}, "required": ["shape"]},
            "then": {"propertyNames": {"enum": [*LOAD_RUNNER_KEYS, *keys]}},
        }
        for shape, keys in LOAD_SHAPE_KEYS.items()
    ]
    none_rule = {
        "if": {"properties": {"shape": {"const": "none"}}, "required": ["shape"]},
        "then": {"propertyNames": {"enum": ["shape"]}},
    }
    return {
        "type": "object",
        "required": ["shape"],
        "additionalProperties": False,
        "properties": {
            "shape": {"enum": ["none", *LOAD_SHAPE_KEYS]},
            "rate": _RATE,
            "peak": _RATE,
            "from": _RATE,
            "to": _RATE,
            "by": {"type": "number", "exclusiveMinimum": 0},
            "duration": duration,
            "every": duration,
            "at": duration,
            "for": duration,
            "steps": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["rate", "for"],
                    "additionalProperties": False,
                    "properties": {"rate": _RATE, "for": duration},
                },
            },
            "mix": {
                "type": "object",
                "additionalProperties": {"type": "number", "minimum": 0},
                "minProperties": 1,
            },
            "seed": {"type": "integer"},
            "workers": {"type": "integer", "minimum": 0},
            "engine": {"enum": ["native", "locust"]},
            "timeout": duration,
            "replay": {"type": "string", "minLength": 1},
        },
        "allOf": [*shape_rules, none_rule],
    }


ErrorAt = Callable[[str, tuple[str | int, ...]], ConfigError]


def check_load(load: Mapping[str, Any], error: ErrorAt) -> None:
    """What the schema cannot say about ``load:``; ``error(message, path)`` names the line."""
    if "mix" in load and sum(load["mix"].values()) <= 0:
        raise error("mix weights must add up to more than 0", ("load", "mix"))
    if "timeout" in load and parse_duration(load["timeout"], field="load.timeout") <= 0:
        raise error("a request timeout must be more than 0 s", ("load", "timeout"))
    if "replay" not in load:
        return
    extra = sorted(set(load) - set(REPLAY_KEYS))
    if extra:
        raise error(
            f"{extra[0]!r} cannot be used with replay: the arrivals file fixes the rate, "
            f"shape, mix and seed (allowed beside replay: {', '.join(REPLAY_KEYS)})",
            ("load", extra[0]),
        )
    if load.get("shape") != "open-loop":
        raise error(
            f"replayed arrivals are sent open-loop; expected shape: open-loop, "
            f"got {load.get('shape')!r}",
            ("load", "shape"),
        )
    path = Path(str(load["replay"]))
    if not path.is_file():
        raise error(
            f"no arrivals file {str(path)!r} (relative paths start at {Path.cwd()}); "
            "every run records its arrivals.json",
            ("load", "replay"),
        )
