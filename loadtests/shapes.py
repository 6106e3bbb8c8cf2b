"""Load shapes: the target arrival rate over time, for open-loop generation.

A shape only says *how many* requests per second are wanted at time ``t``; the arrival
schedule (:mod:`loadtests.arrivals`) turns it into seeded Poisson arrival times, and the
generator sends each at its time whatever the responses do.

Shapes, as a scenario's ``load:`` block declares them (``duration`` etc. take ``90s``-style)::

    {shape: open-loop, rate: 40, duration: 120s}                  # constant, alias: constant
    {shape: step, steps: [{rate: 10, for: 30s}, {rate: 40, for: 60s}]}
    {shape: step, from: 10, to: 50, by: 10, every: 20s}          # the same, generated
    {shape: spike, rate: 20, peak: 100, at: 30s, for: 10s, duration: 90s}
    {shape: ramp, from: 5, to: 200, duration: 60s}               # linear
    {shape: soak, rate: 20, duration: 2h}                        # constant, long

The ramp *search* for the highest rate that meets a p99 objective is a procedure over
constant-rate trials, not a shape: :mod:`loadtests.search`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from harness.durations import parse_duration
from harness.errors import ConfigError
from harness.load_spec import LOAD_RUNNER_KEYS

__all__ = [
    "SHAPES",
    "ConstantRate",
    "LoadShape",
    "Ramp",
    "Soak",
    "Spike",
    "Step",
    "shape_from_spec",
]

# Keys of a ``load:`` block that are not the shape's own (the planner reads them); the
# scenario schema declares the same, so a key accepted there is one the planner honours.
_RUNNER_KEYS = set(LOAD_RUNNER_KEYS)


@runtime_checkable
class LoadShape(Protocol):
    """Target rate (requests/s) as a function of seconds since the load started."""

    @property
    def duration_s(self) -> float: ...

    def rate_at(self, t: float) -> float: ...

    def max_rate(self) -> float:
        """An upper bound of :meth:`rate_at` over the run (for thinning)."""
        ...

    def to_spec(self) -> dict[str, Any]:
        """The shape as scenario data (what the run record stores)."""
        ...


@dataclass(frozen=True)
class ConstantRate:
    rate: float
    duration: float

    @property
    def duration_s(self) -> float:
        return self.duration

    def rate_at(self, t: float) -> float:
        return self.rate if 0 <= t < self.duration else 0.0

    def max_rate(self) -> float:
        return self.rate

    def to_spec(self) -> dict[str, Any]:
        return {"shape": "open-loop", "rate": self.rate, "duration": self.duration}


@dataclass(frozen=True)
class Soak(ConstantRate):
    """A constant rate held for long (hours): leaks, slow drift, log growth."""

    def to_spec(self) -> dict[str, Any]:
        return {"shape": "soak", "rate": self.rate, "duration": self.duration}


@dataclass(frozen=True)
class Step:
    """Consecutive constant-rate stages: ``((seconds, rate), ...)``."""

    stages: tuple[tuple[float, float], ...]

    @property
    def duration_s(self) -> float:
        return sum(d for d, _ in self.stages)

    def rate_at(self, t: float) -> float:
        if t < 0:
            return 0.0
        edge = 0.0
        for seconds, rate in self.stages:
            edge += seconds
            if t < edge:
                return rate
        return 0.0

    def max_rate(self) -> float:
        return max((r for _, r in self.stages), default=0.0)

    def to_spec(self) -> dict[str, Any]:
        return {"shape": "step", "steps": [{"rate": r, "for": d} for d, r in self.stages]}


@dataclass(frozen=True)
class Spike:
    """``rate`` throughout, ``peak`` during ``[at, at + length)``."""

    rate: float
    peak: float
    at: float
    length: float
    duration: float

    @property
    def duration_s(self) -> float:
        return self.duration

    def rate_at(self, t: float) -> float:
        if not 0 <= t < self.duration:
            return 0.0
        return self.peak if self.at <= t < self.at + self.length else self.rate

    def max_rate(self) -> float:
        return max(self.rate, self.peak)

    def to_spec(self) -> dict[str, Any]:
        return {
            "shape": "spike",
            "rate": self.rate,
            "peak": self.peak,
            "at": self.at,
            "for": self.length,
            "duration": self.duration,
        }


@dataclass(frozen=True)
class Ramp:
    """A linear change of rate from ``start`` to ``end`` over ``duration``."""

    start: float
    end: float
    duration: float

    @property
    def duration_s(self) -> float:
        return self.duration

    def rate_at(self, t: float) -> float:
        if not 0 <= t < self.duration:
            return 0.0
        return self.start + (self.end - self.start) * t / self.duration

    def max_rate(self) -> float:
        return max(self.start, self.end)

    def to_spec(self) -> dict[str, Any]:
        return {"shape": "ramp", "from": self.start, "to": self.end, "duration": self.duration}


class _Spec:
    """Typed reads from one ``load:`` mapping, with errors naming the field."""

    def __init__(self, spec: Mapping[str, Any], source: str | None, allowed: set[str]) -> None:
        self.spec = spec
        self.source = source
        unknown = sorted(set(spec) - allowed - _RUNNER_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown key(s) {unknown} for shape {spec.get('shape')!r}; "
                f"expected {sorted(allowed)}",
                source=source,
                field=f"load.{unknown[0]}",
            )

    def rate(self, key: str, default: float | None = None) -> float:
        value = self.spec.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(
                f"expected a rate >= 0 (requests/s), got {value!r}",
                source=self.source,
                field=f"load.{key}",
            )
        return float(value)

    def seconds(self, key: str, default: float | None = None) -> float:
        value = self.spec.get(key, default)
        if value is None:
            raise ConfigError("is required", source=self.source, field=f"load.{key}")
        return parse_duration(value, source=self.source, field=f"load.{key}")


def _constant(spec: _Spec, cls: type[ConstantRate]) -> ConstantRate:
    return cls(spec.rate("rate"), spec.seconds("duration"))


def _step(spec: _Spec) -> Step:
    raw = spec.spec.get("steps")
    if raw is not None:
        if not isinstance(raw, list) or not raw:
            raise ConfigError(
                "expected a list of {rate, for}", source=spec.source, field="load.steps"
            )
        stages = []
        for i, item in enumerate(raw):
            if not isinstance(item, Mapping) or set(item) != {"rate", "for"}:
                raise ConfigError(
                    f"expected {{rate: N, for: DURATION}}, got {item!r}",
                    source=spec.source,
                    field=f"load.steps[{i}]",
                )
            sub = _Spec(item, spec.source, {"rate", "for"})
            stages.append((sub.seconds("for"), sub.rate("rate")))
        return Step(tuple(stages))
    start, end, by = spec.rate("from"), spec.rate("to"), spec.rate("by")
    every = spec.seconds("every")
    if by <= 0 or every <= 0:
        raise ConfigError("'by' and 'every' must be > 0", source=spec.source, field="load.by")
    count = int(abs(end - start) // by) + 1
    sign = 1 if end >= start else -1
    return Step(tuple((every, start + sign * by * i) for i in range(count)))


def _spike(spec: _Spec) -> Spike:
    shape = Spike(
        spec.rate("rate"),
        spec.rate("peak"),
        spec.seconds("at"),
        spec.seconds("for"),
        spec.seconds("duration"),
    )
    if shape.at + shape.length > shape.duration:
        raise ConfigError("the spike ends after the run", source=spec.source, field="load.for")
    return shape


def _ramp(spec: _Spec) -> Ramp:
    return Ramp(spec.rate("from"), spec.rate("to"), spec.seconds("duration"))


# name -> (allowed keys, factory). New shapes register here.
SHAPES: dict[str, tuple[set[str], Callable[[_Spec], LoadShape]]] = {
    "open-loop": ({"rate", "duration"}, lambda s: _constant(s, ConstantRate)),
    "constant": ({"rate", "duration"}, lambda s: _constant(s, ConstantRate)),
    "soak": ({"rate", "duration"}, lambda s: _constant(s, Soak)),
    "step": ({"steps", "from", "to", "by", "every"}, _step),
    "spike": ({"rate", "peak", "at", "for", "duration"}, _spike),
    "ramp": ({"from", "to", "duration"}, _ramp),
}


def shape_from_spec(spec: Mapping[str, Any], *, source: str | None = None) -> LoadShape:
    """The shape a scenario's ``load:`` block declares; :class:`ConfigError` names the field."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"expected a mapping, got {spec!r}", source=source, field="load")
    name = spec.get("shape", "open-loop")
    if name not in SHAPES:
        raise ConfigError(
            f"unknown shape {name!r}; known: {sorted(SHAPES)}", source=source, field="load.shape"
        )
    allowed, factory = SHAPES[name]
    shape = factory(_Spec(spec, source, allowed))
    if shape.duration_s <= 0:
        raise ConfigError("the load lasts 0 s", source=source, field="load.duration")
    return shape
