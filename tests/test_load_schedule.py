"""Load shapes and seeded arrival schedules: Poisson, reproducible, replayable exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.durations import parse_duration
from harness.errors import ConfigError
from loadtests.arrivals import Schedule, build_schedule, normalise_mix
from loadtests.shapes import ConstantRate, Ramp, Soak, Spike, Step, shape_from_spec


def test_shapes_from_scenario_specs() -> None:
    c = shape_from_spec({"shape": "open-loop", "rate": 40, "duration": "2m"})
    assert c == ConstantRate(40.0, 120.0)
    assert (c.rate_at(0), c.rate_at(119.9), c.rate_at(120)) == (40, 40, 0)
    step = shape_from_spec({"shape": "step", "from": 10, "to": 30, "by": 10, "every": "5s"})
    assert step == Step(((5.0, 10.0), (5.0, 20.0), (5.0, 30.0)))
    assert [step.rate_at(t) for t in (0, 5, 14.9, 15)] == [10, 20, 30, 0]
    listed = shape_from_spec({"shape": "step", "steps": [{"rate": 5, "for": 3}]})
    assert listed.duration_s == 3
    spike = shape_from_spec(
        {"shape": "spike", "rate": 10, "peak": 50, "at": "10s", "for": "5s", "duration": 30}
    )
    assert isinstance(spike, Spike)
    assert [spike.rate_at(t) for t in (9.9, 10, 14.9, 15)] == [10, 50, 50, 10]
    ramp = shape_from_spec({"shape": "ramp", "from": 0, "to": 100, "duration": 10})
    assert isinstance(ramp, Ramp)
    assert ramp.rate_at(5) == pytest.approx(50)
    soak = shape_from_spec({"shape": "soak", "rate": 5, "duration": "1h", "mix": {"ner": 1}})
    assert isinstance(soak, Soak)
    assert soak.to_spec()["shape"] == "soak"
    # to_spec round-trips through the parser
    for shape in (c, step, spike, ramp, soak):
        assert shape_from_spec(shape.to_spec()) == shape


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"shape": "zigzag"}, "load.shape"),
        ({"shape": "open-loop", "rate": 5}, "load.duration"),
        ({"shape": "open-loop", "rate": -1, "duration": 5}, "load.rate"),
        ({"shape": "open-loop", "rate": 5, "duration": "5 parsecs"}, "load.duration"),
        ({"shape": "open-loop", "rate": 5, "duration": 5, "peak": 9}, "load.peak"),
        ({"shape": "step", "steps": [{"rate": 1}]}, "load.steps[0]"),
        ({"shape": "spike", "rate": 1, "peak": 2, "at": 9, "for": 5, "duration": 10}, "load.for"),
    ],
)
def test_bad_shapes_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as exc:
        shape_from_spec(spec, source="scenarios/s.yaml")
    assert field in str(exc.value)
    assert "scenarios/s.yaml" in str(exc.value)


def test_durations() -> None:
    assert parse_duration("1m30s") == 90
    assert parse_duration("250ms") == 0.25
    assert parse_duration(3) == 3
    for bad in ("", "-1s", "1x", True, None, "nan"):
        with pytest.raises(ConfigError):
            parse_duration(bad, field="f")


def test_schedule_is_seeded_and_poisson() -> None:
    shape = ConstantRate(200, 30)
    a = build_schedule(shape, {"ner": 0.7, "vision": 0.3}, seed=7)
    b = build_schedule(shape, {"ner": 0.7, "vision": 0.3}, seed=7)
    c = build_schedule(shape, {"ner": 0.7, "vision": 0.3}, seed=8)
    assert np.array_equal(a.t_us, b.t_us)
    assert np.array_equal(a.route, b.route)
    assert not np.array_equal(a.t_us[:100], c.t_us[:100])
    n = len(a)
    assert abs(n - 6000) < 4 * 6000**0.5  # Poisson count: mean 6000, sd ~77
    gaps = np.diff(a.t_us) / 1e6
    assert gaps.mean() == pytest.approx(1 / 200, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.05)  # exponential: CV 1
    assert np.all(gaps >= 0)
    counts = a.counts()
    assert counts["ner"] / n == pytest.approx(0.7, abs=0.03)
    # the mix does not move the arrival times (separate random streams)
    d = build_schedule(shape, {"ner": 0.5, "vision": 0.5}, seed=7)
    assert np.array_equal(a.t_us, d.t_us)


def test_thinning_follows_a_step_shape() -> None:
    sched = build_schedule(Step(((10, 20), (10, 200))), {"ner": 1}, seed=3)
    t = sched.t_us / 1e6
    low, high = np.sum(t < 10), np.sum(t >= 10)
    assert low == pytest.approx(200, abs=4 * 200**0.5)
    assert high == pytest.approx(2000, abs=4 * 2000**0.5)
    assert t.max() < 20


def test_schedule_round_trips_exactly(tmp_path: Path) -> None:
    sched = build_schedule(ConstantRate(50, 5), {"ner": 1, "vision": 1}, seed=11, scenario="x")
    path = sched.write(tmp_path / "arrivals.json")
    again = Schedule.read(path)
    assert np.array_equal(again.t_us, sched.t_us)
    assert np.array_equal(again.route, sched.route)
    assert np.array_equal(again.payload, sched.payload)
    assert again.routes == sched.routes
    assert again.seed == 11
    assert again.meta == {"scenario": "x"}
    parts = [sched.part(i, 3) for i in range(3)]
    merged = np.sort(np.concatenate([p.t_us for p in parts]))
    assert np.array_equal(merged, sched.t_us)
    assert sum(len(p) for p in parts) == len(sched)


@pytest.mark.parametrize(
    ("mutate", "text"),
    [
        (lambda d: d.update(version=9), "version"),
        (lambda d: d.pop("t_us"), "t_us"),
        (lambda d: d.update(t_us=d["t_us"][::-1]), "ascending"),
        (lambda d: d.update(route=[5] * len(d["route"])), "route"),
        (lambda d: d.update(count=1), "disagree"),
    ],
)
def test_bad_arrivals_files_are_named(tmp_path: Path, mutate: Any, text: str) -> None:
    data = build_schedule(ConstantRate(20, 2), {"ner": 1}, seed=1).to_json()
    mutate(data)
    path = tmp_path / "arrivals.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as exc:
        Schedule.read(path)
    assert str(path) in str(exc.value)
    assert text in str(exc.value)


def test_mix_weights_are_checked() -> None:
    assert normalise_mix({"a": 1, "b": 3}) == {"a": 0.25, "b": 0.75}
    for bad in ({}, {"a": -1}, {"a": 0}, {"a": "x"}):
        with pytest.raises(ConfigError, match=r"load\.mix"):
            normalise_mix(bad)
