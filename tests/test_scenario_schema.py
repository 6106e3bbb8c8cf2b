"""Scenario files: schema errors name the file, the field and the line."""

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.scenario import SCHEMA, load_scenario, parse_duration, parse_scenario

GOOD = """\
name: spot
platform: [local]
steady_state:
  - {probe: http, route: ner, expect: {status: 200}}
load: {shape: open-loop, rate: 40, duration: 60s, mix: {ner: 0.7, vision: 0.3}}
faults:
  - {at: 30s, kind: spot_interruption, target: {node_label: spot}, notice: 60s}
expect:
  - {gate: error_ratio, max: 0.01}
  - {gate: replicas, service: ner, at_least: 2, within: 90s}
profiles:
  ci:
    load: {duration: 20s}
"""


def parse(text: str, profile: str | None = None):
    return parse_scenario(text, source="day.yaml", profile=profile)


def test_the_design_sketch_parses() -> None:
    s = parse(GOOD)
    assert s.name == "spot"
    (fault,) = s.faults
    assert fault.at_s == 30
    assert fault.params == {"notice": "60s"}
    assert fault.line == 7
    assert s.load_duration_s == 60


def test_profile_overlays_the_document() -> None:
    assert parse(GOOD, "ci").load_duration_s == 20
    assert parse(GOOD, "ci").load["rate"] == 40
    assert parse(GOOD, "ci").profile == "ci"


def test_unknown_profile_is_an_error_but_ci_is_optional() -> None:
    with pytest.raises(ConfigError, match="no profile 'soak'"):
        parse(GOOD, "soak")
    assert parse(GOOD.split("profiles:", maxsplit=1)[0], "ci").profile is None


@pytest.mark.parametrize(
    ("old", "new", "where", "says"),
    [
        ("notice: 60s", "notice: soon", "day.yaml:7 [faults[0].notice]", "not a duration"),
        ("notice: 60s", "notic: 60s", "day.yaml:7 [faults[0].notic]", "unknown key 'notic'"),
        ("spot_interruption", "meteor", "day.yaml:7 [faults[0].kind]", "not one of"),
        ("{node_label: spot}", "{route: ner}", "day.yaml:7 [faults[0].target]", "node_label"),
        ("probe: http, route: ner,", "probe: http,", "day.yaml:4 [steady_state[0]]", "route"),
        ("expect:\n", "expectations:\n", "day.yaml:8 [expectations]", "unknown key"),
        ("rate: 40", "rate: -1", "day.yaml:5 [load.rate]", "minimum"),
        ("max: 0.01", "max: 3", "day.yaml:9 [expect[0].max]", "at most 1"),
        ("at_least: 2,", "at_lest: 2,", "day.yaml:10 [expect[1].at_lest]", "unknown key"),
        ("duration: 20s", "duration: soon", "day.yaml:13 [load.duration]", "not a duration"),
    ],
)
def test_errors_name_file_field_and_line(old: str, new: str, where: str, says: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError) as info:
        parse(GOOD.replace(old, new, 1), "ci")
    assert str(info.value).startswith(where), str(info.value)
    assert says in str(info.value)


def test_not_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"day.yaml:3: not valid YAML"):
        parse("name: x\nexpect: [\n")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.yaml")


def test_durations() -> None:
    assert parse_duration("500ms") == 0.5
    assert parse_duration("1m30s") == 90
    assert parse_duration(3) == 3
    with pytest.raises(ValueError, match="duration"):
        parse_duration("soon")


def test_schema_is_draft_2020_12() -> None:
    assert SCHEMA["$schema"].endswith("2020-12/schema")
