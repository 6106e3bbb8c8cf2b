"""Seeded arrival schedules: when each request is due, to which route, with which payload.

A :class:`Schedule` is computed before the load starts from a shape, a route mix and a seed,
so the same inputs always give the same arrivals, and it is written to the run record as
``arrivals.json`` (:meth:`Schedule.to_json`) so a run can be replayed exactly
(:meth:`Schedule.from_json`), whatever the random library does in a later version.

Times are Poisson arrivals of the shape's rate (a non-homogeneous rate by thinning, Lewis and
Shedler 1979). Three independent random streams are spawned from the seed (times, routes,
payloads), so changing the mix does not move the arrival times.

``arrivals.json``::

    {"version": 1, "seed": 7, "shape": {...}, "mix": {"ner": 0.7, "vision": 0.3},
     "routes": ["ner", "vision"], "count": 3,
     "t_us": [1520, 30411, ...],   # microseconds after load start, ascending
     "route": [0, 1, ...],         # index into routes
     "payload": [912, 77, ...]}    # payload pick; the generator uses payload % len(payloads)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import ConfigError
from loadtests.shapes import LoadShape

__all__ = ["ARRIVALS_VERSION", "Schedule", "build_schedule", "normalise_mix"]

ARRIVALS_VERSION = 1
_PAYLOAD_SPACE = 2**31


def normalise_mix(mix: Mapping[str, Any], *, source: str | None = None) -> dict[str, float]:
    """Weights summing to 1, in the given order; errors name the route."""
    if not isinstance(mix, Mapping) or not mix:
        raise ConfigError(
            f"expected a mapping route -> weight, got {mix!r}", source=source, field="load.mix"
        )
    weights: dict[str, float] = {}
    for route, weight in mix.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ConfigError(
                f"weight must be a number >= 0, got {weight!r}",
                source=source,
                field=f"load.mix.{route}",
            )
        weights[str(route)] = float(weight)
    total = sum(weights.values())
    if total <= 0:
        raise ConfigError("weights sum to 0", source=source, field="load.mix")
    return {r: w / total for r, w in weights.items()}


@dataclass(frozen=True, eq=False)
class Schedule:
    seed: int
    shape: dict[str, Any]
    mix: dict[str, float]
    routes: tuple[str, ...]
    t_us: npt.NDArray[np.int64]
    route: npt.NDArray[np.int32]
    payload: npt.NDArray[np.int64]
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.t_us)

    @property
    def duration_s(self) -> float:
        return float(self.shape.get("duration_s", self.t_us[-1] / 1e6 if len(self) else 0.0))

    def part(self, index: int, count: int) -> Schedule:
        """Arrivals ``index, index + count, ...``: one worker's share. Round-robin keeps every
        worker's arrivals spread over the whole run and the union exactly the schedule."""
        if not 0 <= index < count:
            raise ValueError(f"part {index} of {count}")
        sl = slice(index, None, count)
        return Schedule(
            self.seed,
            self.shape,
            self.mix,
            self.routes,
            self.t_us[sl],
            self.route[sl],
            self.payload[sl],
            {**self.meta, "part": [index, count]},
        )

    def counts(self) -> dict[str, int]:
        """Arrivals per route."""
        found = np.bincount(self.route, minlength=len(self.routes))
        return {r: int(found[i]) for i, r in enumerate(self.routes)}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": ARRIVALS_VERSION,
            "seed": self.seed,
            "shape": self.shape,
            "mix": self.mix,
            "routes": list(self.routes),
            "count": len(self),
            "meta": self.meta,
            "t_us": self.t_us.tolist(),
            "route": self.route.tolist(),
            "payload": self.payload.tolist(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: str = "arrivals.json") -> Schedule:
        if not isinstance(data, Mapping) or data.get("version") != ARRIVALS_VERSION:
            found = data.get("version") if isinstance(data, Mapping) else None
            raise ConfigError(
                f"arrivals version {found!r}, this msai reads {ARRIVALS_VERSION}",
                source=source,
                field="version",
            )
        try:
            t_us = np.asarray(data["t_us"], dtype=np.int64)
            route = np.asarray(data["route"], dtype=np.int32)
            payload = np.asarray(data["payload"], dtype=np.int64)
            routes = tuple(str(r) for r in data["routes"])
        except KeyError as exc:
            raise ConfigError("is missing", source=source, field=str(exc.args[0])) from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"malformed arrays ({exc})", source=source) from exc
        if not len(t_us) == len(route) == len(payload) == int(data.get("count", len(t_us))):
            raise ConfigError("t_us, route, payload and count disagree", source=source)
        if len(t_us) and (np.any(np.diff(t_us) < 0) or t_us[0] < 0):
            raise ConfigError("t_us must be ascending and >= 0", source=source, field="t_us")
        if len(route) and (route.min() < 0 or route.max() >= len(routes)):
            raise ConfigError("route index out of range", source=source, field="route")
        return cls(
            int(data.get("seed", 0)),
            dict(data.get("shape", {})),
            {str(k): float(v) for k, v in dict(data.get("mix", {})).items()},
            routes,
            t_us,
            route,
            payload,
            dict(data.get("meta", {})),
        )

    def write(self, path: Path) -> Path:
        import json
        import os

        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.to_json()), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, path: Path) -> Schedule:
        import json

        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("no such file", source=str(path)) from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not JSON ({exc.msg})", source=str(path), line=exc.lineno) from None
        return cls.from_json(data, source=str(path))


def _poisson_times(shape: LoadShape, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Arrival times (s) of a Poisson process with rate ``shape.rate_at`` over its duration."""
    top, end = shape.max_rate(), shape.duration_s
    mean_gap = 1.0 / top if top > 0 else math.inf
    if not math.isfinite(mean_gap) or end <= 0:  # no rate, or one too small for a float gap
        return np.empty(0, dtype=np.float64)
    chunks: list[npt.NDArray[np.float64]] = []
    t = 0.0
    expect = max(16, int(top * end * 1.1) + 16)
    while t < end:
        gaps = rng.exponential(mean_gap, size=expect)
        with np.errstate(over="ignore"):  # a vanishing rate's gaps may sum to inf: past the end
            times = t + np.cumsum(gaps)
        t = float(times[-1])
        chunks.append(times[times < end])
        if t >= end:
            break
        expect = max(16, int(top * (end - t) * 1.1) + 16)
    candidates = np.concatenate(chunks)
    # Thinning: keep each candidate with probability rate(t) / top (1 for constant rates).
    rates = np.fromiter((shape.rate_at(float(x)) for x in candidates), float, len(candidates))
    keep = rng.random(len(candidates)) * top < rates
    return candidates[keep]


def build_schedule(shape: LoadShape, mix: Mapping[str, float], seed: int, **meta: Any) -> Schedule:
    """The seeded schedule for ``shape`` with routes drawn by ``mix`` weights."""
    weights = normalise_mix(mix)
    times_seq, route_seq, payload_seq = np.random.SeedSequence(seed).spawn(3)
    times = _poisson_times(shape, np.random.default_rng(times_seq))
    routes = tuple(weights)
    probs = np.array([weights[r] for r in routes])
    route = np.random.default_rng(route_seq).choice(len(routes), size=len(times), p=probs)
    payload = np.random.default_rng(payload_seq).integers(0, _PAYLOAD_SPACE, size=len(times))
    return Schedule(
        seed,
        {**shape.to_spec(), "duration_s": shape.duration_s},
        weights,
        routes,
        np.round(times * 1e6).astype(np.int64),
        route.astype(np.int32),
        payload.astype(np.int64),
        dict(meta),
    )
