"""values.yaml -> typed stack spec: profiles, overrides, and errors that name file and field."""

from pathlib import Path

import pytest

from harness.durations import parse_duration
from harness.errors import ConfigError
from harness.platform.base import StackSpec
from harness.values import load_stack


def test_default_values_and_minimal_profile() -> None:
    full = load_stack(StackSpec())
    minimal = load_stack(StackSpec(profile="minimal"))
    assert full.services["ner"].replicas == 2
    assert minimal.services["ner"].replicas == 1
    assert not minimal.services["orchestrator"].enabled
    hpa = full.services["ner"].hpa
    assert hpa is not None
    assert hpa.metric == "modelserve_pending_requests"
    assert hpa.scale_down.stabilization_s == 60
    assert full.mesh.retry_attempts == 2
    assert full.mesh.per_try_timeout_s == 3.0
    assert full.mesh.max_pending_requests == 128
    assert [n.name for n in full.nodes] == ["general-a", "general-b", "spot-a"]
    assert full.local.scrape_interval_s == 1.0


def test_scale_to_zero_profile_switches_to_keda() -> None:
    v = load_stack(StackSpec(profile="scale-to-zero"))
    ner = v.services["ner"]
    assert ner.hpa is None
    assert ner.keda is not None
    assert ner.keda.min_replicas == 0
    assert ner.keda.cooldown_s == 10
    assert ner.keda.hold_enabled


def test_overrides_by_dotted_key() -> None:
    v = load_stack(
        StackSpec(profile="minimal", overrides={"ner.replicas": 3, "mesh.timeout": "2s"})
    )
    assert v.services["ner"].replicas == 3
    assert v.mesh.timeout_s == 2.0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ner.replicas": "two"}, "ner.replicas"),
        ({"mesh.timeout": "soon"}, "mesh.timeout"),
        ({"ner.canary.weight": 150}, "ner.canary.weight"),
        ({"ner.autoscaling.hpa.behavior.scaleUp.selectPolicy": "Most"}, "selectPolicy"),
        ({"local.hpaMetricWindow": "-5s"}, "local.hpaMetricWindow"),
    ],
)
def test_bad_values_name_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_stack(StackSpec(overrides=overrides))
    assert field in str(err.value)
    assert "values.yaml" in str(err.value)


def test_unknown_profile_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="minimal"):
        load_stack(StackSpec(profile="nope"))


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_stack(StackSpec(values_file=str(tmp_path / "missing.yaml")))
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d"):
        load_stack(StackSpec(values_file=str(bad)))


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("200ms", 0.2), ("3s", 3.0), ("2m", 120.0), (5, 5.0), ("1.5s", 1.5), ("1m30s", 90.0)],
)
def test_durations(raw: object, seconds: float) -> None:
    assert parse_duration(raw) == pytest.approx(seconds)
