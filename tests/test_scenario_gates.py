"""Gates over platform events: replicas, alerts, measurements; no data is inconclusive."""

from typing import Any

import pytest

from harness.errors import ConfigError
from harness.gates import GateContext, gate_from_spec
from harness.record import Event


def ctx(*rows: tuple[float, str, dict[str, Any]]) -> GateContext:
    events = [Event(i, t, kind, data) for i, (t, kind, data) in enumerate(rows)]
    return GateContext(events)


def verdict(spec: dict, context: GateContext) -> Any:
    return gate_from_spec(spec, source="day.yaml").evaluate(context)


RUN = (100.0, "run_start", {"scenario": "x", "platform": "fake"})
FAULT = (110.0, "fault_start", {"fault_id": "f", "fault": "drain", "target": "a", "at_s": 10.0})


def replicas(t: float, ready: int, desired: int | None = None) -> tuple[float, str, dict]:
    return (t, "replicas", {"service": "ner", "desired": desired or ready, "ready": ready})


def test_replicas_back_within_the_window_passes() -> None:
    c = ctx(RUN, replicas(101, 2), FAULT, replicas(111, 1), replicas(125, 2))
    v = verdict({"gate": "replicas", "service": "ner", "at_least": 2, "within": "30s"}, c)
    assert v.verdict == "pass"
    assert v.observed["reached_after_s"] == 15
    assert v.observed["min"] == 1


def test_replicas_back_too_late_fails() -> None:
    c = ctx(RUN, replicas(101, 2), FAULT, replicas(111, 1), replicas(150, 2))
    v = verdict({"gate": "replicas", "service": "ner", "at_least": 2, "within": "30s"}, c)
    assert v.verdict == "fail"


def test_scale_down_uses_desired_count() -> None:
    c = ctx(RUN, replicas(101, 3), replicas(130, 2, 1), replicas(140, 1))
    spec = {"gate": "replicas", "service": "ner", "at_most": 1, "after": "20s", "within": "60s"}
    assert verdict(spec, c).verdict == "pass"


def test_replicas_without_data_is_inconclusive() -> None:
    v = verdict({"gate": "replicas", "service": "ner", "at_least": 1}, ctx(RUN))
    assert v.verdict == "inconclusive"


def alert(t: float, name: str, state: str) -> tuple[float, str, dict]:
    return (t, "alert", {"name": name, "state": state})


def test_alert_fires_in_time_and_resolves() -> None:
    c = ctx(RUN, FAULT, alert(118, "RedisDown", "firing"), alert(140, "RedisDown", "resolved"))
    spec = {"gate": "alert", "name": "RedisDown", "fires_within": "10s", "resolves": True}
    v = verdict(spec, c)
    assert v.verdict == "pass"
    assert v.observed["fired_after_s"] == 8


@pytest.mark.parametrize(
    "rows",
    [
        [alert(125, "RedisDown", "firing")],  # too late
        [alert(118, "RedisDown", "firing")],  # never resolves
        [],  # never fires
    ],
)
def test_alert_late_unresolved_or_missing_fails(rows: list) -> None:
    spec = {"gate": "alert", "name": "RedisDown", "fires_within": "10s", "resolves": True}
    assert verdict(spec, ctx(RUN, FAULT, *rows)).verdict == "fail"


def test_alert_gate_without_an_observer_is_inconclusive() -> None:
    off = (101.0, "note", {"message": "observer alerts off: no Prometheus"})
    spec = {"gate": "alert", "name": "RedisDown"}
    assert verdict(spec, ctx(RUN, off, FAULT)).verdict == "inconclusive"
    assert verdict({"gate": "no_unexpected_alerts"}, ctx(RUN, off)).verdict == "inconclusive"


def test_unexpected_alerts_fail() -> None:
    c = ctx(RUN, alert(105, "HighLatencyP99", "firing"), alert(106, "RedisDown", "firing"))
    v = verdict({"gate": "no_unexpected_alerts", "allow": ["RedisDown"]}, c)
    assert v.verdict == "fail"
    assert v.observed["unexpected"] == ["HighLatencyP99"]


def test_measurement_gate() -> None:
    m = [
        (101.0 + i, "measurement", {"name": "cold_start_s", "value": v, "unit": "s"})
        for i, v in enumerate([3.0, 9.5])
    ]
    assert (
        verdict({"gate": "measurement", "name": "cold_start_s", "max": 10}, ctx(*m)).verdict
        == "pass"
    )
    assert (
        verdict({"gate": "measurement", "name": "cold_start_s", "max": 5}, ctx(*m)).verdict
        == "fail"
    )
    assert (
        verdict({"gate": "measurement", "name": "rto_s", "max": 5}, ctx(*m)).verdict
        == "inconclusive"
    )


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"gate": "replicas", "at_least": 1}, "service"),
        ({"gate": "replicas", "service": "ner"}, "exactly one"),
        ({"gate": "alert", "fires_within": "1s"}, "name"),
        ({"gate": "measurement", "name": "x"}, "min' or 'max"),
        ({"gate": "alert", "name": "x", "resolves": "yes"}, "true or false"),
    ],
)
def test_bad_specs_name_the_field(spec: dict, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as info:
        gate_from_spec(spec, source="day.yaml")
    assert "day.yaml" in str(info.value)


def test_alerts_active_before_the_run_are_evidence_not_failures() -> None:
    early = (
        99.0,
        "alert",
        {"name": "RedisDown", "state": "firing", "starts_at": "1970-01-01T00:01:35.123456789Z"},
    )
    late = (
        105.0,
        "alert",
        {"name": "HighLatencyP99", "state": "firing", "starts_at": "1970-01-01T00:01:44Z"},
    )
    v = verdict({"gate": "no_unexpected_alerts"}, ctx(RUN, early))
    assert v.verdict == "pass"
    assert v.evidence["active_before_the_run"] == ["RedisDown"]
    assert verdict({"gate": "no_unexpected_alerts"}, ctx(RUN, early, late)).verdict == "fail"
