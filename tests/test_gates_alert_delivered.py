"""The ``alert`` gate's ``delivered: true``: firing in Prometheus is not enough, Alertmanager
must have delivered the alert to a receiver."""

from typing import Any

import pytest

from harness.errors import ConfigError
from harness.gates import GateContext, gate_from_spec
from harness.record import Event
from harness.verdict_text import describe_gate

RUN = (100.0, "run_start", {"scenario": "x", "platform": "fake"})
SPEC = {"gate": "alert", "name": "NoReadyReplicas", "fires_within": "10s", "delivered": True}


def ctx(*rows: tuple[float, str, dict[str, Any]]) -> GateContext:
    return GateContext([Event(i, t, kind, data) for i, (t, kind, data) in enumerate(rows)])


def fired(t: float, source: str) -> tuple[float, str, dict[str, Any]]:
    return (t, "alert", {"name": "NoReadyReplicas", "state": "firing", "source": source})


def test_fired_and_delivered_passes() -> None:
    v = gate_from_spec(SPEC, source="day.yaml").evaluate(
        ctx(RUN, fired(105, "prometheus"), fired(106.5, "alertmanager"))
    )
    assert v.verdict == "pass"
    assert v.observed["delivered"] is True
    assert v.observed["delivered_after_s"] == 6.5


def test_fired_but_never_delivered_fails() -> None:
    v = gate_from_spec(SPEC, source="day.yaml").evaluate(ctx(RUN, fired(105, "prometheus")))
    assert v.verdict == "fail"
    assert v.observed == {
        "fired": True,
        "fired_after_s": 5.0,
        "resolved": False,
        "resolved_after_s": None,
        "delivered": False,
        "delivered_after_s": None,
    }
    text = describe_gate(v.event_fields())
    assert "never delivered to a receiver" in text


def test_without_delivered_prometheus_alone_passes() -> None:
    spec = {k: v for k, v in SPEC.items() if k != "delivered"}
    v = gate_from_spec(spec, source="day.yaml").evaluate(ctx(RUN, fired(105, "prometheus")))
    assert v.verdict == "pass"
    assert "delivered" not in v.observed


def test_delivered_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match="true or false"):
        gate_from_spec({**SPEC, "delivered": "yes"}, source="day.yaml")
