"""A scenario's ``load:`` block: every key the schema accepts is honoured by the planner game
days use, or refused at load time with the file, line and field; and a scenario that expects
nothing is refused (it could never fail)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.load_spec import LOAD_RUNNER_KEYS, LOAD_SHAPE_KEYS, REPLAY_KEYS
from harness.record import RunRecord
from harness.scenario import SCHEMA, parse_scenario
from loadtests.arrivals import build_schedule
from loadtests.plan import load_duration_s, plan_load, run_planned
from loadtests.shapes import SHAPES, ConstantRate
from loadtests.testing import EchoServer, echo_server

DAY = """\
name: day
load: {LOAD}
expect:
  - {gate: error_ratio, max: 0.01}
"""


def parse(load: str) -> dict[str, object]:
    return parse_scenario(DAY.replace("{LOAD}", load), source="day.yaml").load


@pytest.fixture(scope="module")
def server() -> Iterator[EchoServer]:
    with echo_server(latency_ms=50) as srv:
        yield srv


def test_empty_expect_is_refused_with_its_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_scenario("name: day\nexpect: []\n", source="day.yaml")
    assert "day.yaml:2 [expect]" in str(err.value)
    assert "cannot fail" in str(err.value)


def test_a_profile_cannot_empty_expect() -> None:
    text = DAY.replace("{LOAD}", "{shape: none}") + "profiles:\n  ci: {expect: []}\n"
    with pytest.raises(ConfigError, match=r"\[expect\].*at least one gate"):
        parse_scenario(text, source="day.yaml", profile="ci")


def test_schema_and_planner_know_the_same_keys() -> None:
    assert {k: set(v) for k, v in LOAD_SHAPE_KEYS.items()} == {
        k: allowed for k, (allowed, _) in SHAPES.items()
    }
    declared = set(SCHEMA["properties"]["load"]["properties"])
    shape_keys = {k for keys in LOAD_SHAPE_KEYS.values() for k in keys}
    assert declared == shape_keys | set(LOAD_RUNNER_KEYS)
    assert set(REPLAY_KEYS) <= set(LOAD_RUNNER_KEYS)


@pytest.mark.parametrize(
    ("load", "field", "says"),
    [
        ("{shape: open-loop, rate: 4, duration: 5s, arrivals: x}", "load.arrivals", "unknown"),
        ("{shape: open-loop, rate: 4, duration: 5s, peak: 9}", "load.peak", "unknown key"),
        ("{shape: none, rate: 4}", "load.rate", "unknown key"),
        ("{shape: open-loop, rate: 4, duration: 5s, workers: -1}", "load.workers", "minimum"),
        ("{shape: open-loop, rate: 4, duration: 5s, workers: 1.5}", "load.workers", "integer"),
        ("{shape: open-loop, rate: 4, duration: 5s, timeout: 0s}", "load.timeout", "more than 0"),
        ("{shape: open-loop, rate: 4, duration: 5s, timeout: soon}", "load.timeout", "duration"),
        ("{shape: open-loop, replay: no/such/arrivals.json}", "load.replay", "no arrivals file"),
        ("{shape: step, replay: REPLAY}", "load.shape", "open-loop"),
        ("{shape: open-loop, rate: 4, replay: REPLAY}", "load.rate", "with replay"),
        ("{shape: open-loop, replay: REPLAY, seed: 3}", "load.seed", "with replay"),
    ],
)
def test_keys_the_planner_would_not_honour_are_refused_with_file_line_field(
    load: str, field: str, says: str, tmp_path: Path
) -> None:
    arrivals = tmp_path / "arrivals.json"
    build_schedule(ConstantRate(2, 2), {"ner": 1.0}, seed=1).write(arrivals)
    with pytest.raises(ConfigError) as err:
        parse(load.replace("REPLAY", str(arrivals)))
    assert f"day.yaml:2 [{field}]" in str(err.value)
    assert says in str(err.value)


def test_every_accepted_key_reaches_the_plan(tmp_path: Path) -> None:
    spec = parse(
        "{shape: open-loop, rate: 20, duration: 3s, mix: {ner: 1.0}, seed: 4, "
        "workers: 2, timeout: 250ms}"
    )
    plan = plan_load(spec, {"ner": "http://127.0.0.1:1"})
    assert plan.settings.workers == 2
    assert plan.settings.timeout_s == 0.25
    assert plan.schedule.seed == 4
    assert set(plan.schedule.routes) == {"ner"}
    assert plan.schedule.duration_s == 3
    assert load_duration_s(spec) == 3


def test_replay_sends_exactly_the_recorded_arrivals(tmp_path: Path) -> None:
    recorded = build_schedule(ConstantRate(30, 2), {"ner": 1.0}, seed=9)
    recorded.write(tmp_path / "arrivals.json")
    spec = parse(f"{{shape: open-loop, replay: {tmp_path / 'arrivals.json'}, workers: 0}}")
    plan = plan_load(spec, {"ner": "http://127.0.0.1:1"}, seed=1)
    assert (plan.schedule.t_us == recorded.t_us).all()
    assert plan.schedule.seed == 9
    assert load_duration_s(spec) == recorded.duration_s


def test_planner_refuses_what_it_would_ignore_beside_replay(tmp_path: Path) -> None:
    build_schedule(ConstantRate(2, 2), {"ner": 1.0}, seed=1).write(tmp_path / "a.json")
    spec = {"shape": "open-loop", "replay": str(tmp_path / "a.json"), "rate": 100}
    with pytest.raises(ConfigError, match=r"\[load\.rate\].*with replay"):
        plan_load(spec, {"ner": "http://127.0.0.1:1"}, source="x")
    with pytest.raises(ConfigError, match=r"x \[load\.replay\]: cannot replay"):
        plan_load(
            {"replay": str(tmp_path / "none.json")}, {"ner": "http://127.0.0.1:1"}, source="x"
        )


def test_a_1ms_timeout_is_honoured_every_request_times_out(
    server: EchoServer, tmp_path: Path
) -> None:
    spec = parse("{shape: open-loop, rate: 10, duration: 1s, mix: {ner: 1.0}, timeout: 1ms}")
    plan = plan_load(spec, {"ner": server.url})
    with RunRecord(tmp_path / "run") as rec:
        result = run_planned(plan, record=rec, progress=False)
        rec.close("fail")
    total = result.summary()
    assert total.sent == len(plan.schedule) > 0
    assert total.errors.get("timeout") == total.sent, total.errors
