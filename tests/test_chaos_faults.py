"""Each fault kind against the FakePlatform: validate -> inject -> probe -> rollback."""

from pathlib import Path

import pytest

from chaos import FAULTS, get_fault
from chaos.testing import FakePlatform
from harness.errors import ConfigError
from harness.platform.base import StackSpec
from harness.scenario import FAULT_KINDS, FaultEntry


@pytest.fixture
def fake() -> FakePlatform:
    p = FakePlatform()
    p.up(StackSpec())
    return p


def entry(kind: str, target: dict, **params: object) -> FaultEntry:
    return FaultEntry(index=0, at_s=0.0, kind=kind, target=target, params=dict(params))


def test_schema_and_registry_name_the_same_kinds() -> None:
    assert set(FAULTS) == set(FAULT_KINDS)


def test_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown fault kind"):
        get_fault("meteor")


# The proof each probe gives on the fake: nodes and replicas it shows; mesh faults are proved
# from the load samples after the run, dependencies from Prometheus, which the fake lacks.
@pytest.mark.parametrize(
    ("kind", "target", "params", "proof"),
    [
        ("drain", {"node": "general-a"}, {}, "observed"),
        ("spot_interruption", {"node_label": "spot"}, {"notice": "30s"}, "observed"),
        ("mesh_delay", {"route": "ner"}, {"delay": "200ms", "percent": 50}, "unobservable"),
        ("mesh_abort", {"route": "ner"}, {"status": 503, "percent": 5}, "unobservable"),
        ("dependency_outage", {"dependency": "redis"}, {"mode": "freeze"}, "unobservable"),
        ("partition", {"between": ["ner", "redis"]}, {}, "unobservable"),
    ],
)
def test_reverting_faults_leave_nothing_behind(
    fake: FakePlatform, kind: str, target: dict, params: dict, proof: str
) -> None:
    fault = get_fault(kind)
    plan = fault.validate(entry(kind, target, **params), fake)
    injections = fault.inject(plan, fake)
    assert injections
    assert all(i.undo for i in injections)
    assert {i.id for i in fake.active_injections()} == {i.id for i in injections}
    result = fault.probe(plan, fake, injections)
    assert result.status == proof, result.detail
    fault.rollback(plan, fake, injections)
    fault.rollback(plan, fake, injections)  # idempotent
    assert fake.active_injections() == []
    assert all(n.schedulable for n in fake.nodes())


def test_spot_interruption_drains_then_terminates_and_is_replaced(fake: FakePlatform) -> None:
    fault = get_fault("spot_interruption")
    plan = fault.validate(entry("spot_interruption", {"node_label": "spot"}, notice=0.05), fake)
    assert plan.targets == ["spot-a"]
    assert plan.affects  # replicas ran on the spot node
    injections = fault.inject(plan, fake)
    node = next(n for n in fake.nodes() if n.name == "spot-a")
    assert not node.schedulable
    assert node.replicas == []
    for service in ("ner", "vision"):  # rescheduled elsewhere
        assert len([r for r in fake.replicas(service) if r.ready]) == 2
    fault.rollback(plan, fake, injections)
    assert next(n for n in fake.nodes() if n.name == "spot-a").schedulable


def test_kill_sigkills_and_the_platform_replaces(fake: FakePlatform) -> None:
    fault = get_fault("kill")
    before = {r.name for r in fake.replicas("ner")}
    plan = fault.validate(entry("kill", {"service": "ner"}, count=1), fake)
    assert plan.affects == {"ner": (1, 2)}
    injections = fault.inject(plan, fake)
    victims = injections[0].params["victims"]
    assert len(victims) == 1
    assert victims[0] in before
    assert ("kill", {"service": "ner", "count": 1, "graceful": False}) in fake.calls
    assert fault.probe(plan, fake, injections).ok
    assert len(fake.replicas("ner")) == 2


def test_restart_is_graceful(fake: FakePlatform) -> None:
    fault = get_fault("restart")
    plan = fault.validate(entry("restart", {"service": "vision"}), fake)
    fault.inject(plan, fake)
    assert ("kill", {"service": "vision", "count": 1, "graceful": True}) in fake.calls


@pytest.mark.parametrize(
    ("kind", "target", "match"),
    [
        ("kill", {"service": "nope"}, "no service 'nope'"),
        ("drain", {"node": "zzz"}, "no node matches"),
        ("mesh_delay", {"route": "nope"}, "no route 'nope'"),
        ("partition", {"between": ["ner", "etcd"]}, "unknown service"),
    ],
)
def test_validation_names_the_field(
    fake: FakePlatform, kind: str, target: dict, match: str
) -> None:
    params = {"delay": "1s"} if kind == "mesh_delay" else {}
    with pytest.raises(ConfigError, match=match) as info:
        get_fault(kind).validate(entry(kind, target, **params), fake)
    assert "faults[0]" in str(info.value)


def test_dry_run_validation_needs_no_platform() -> None:
    plan = get_fault("spot_interruption").validate(
        entry("spot_interruption", {"node_label": "spot"}, notice="60s"), None
    )
    assert "resolved at run" in plan.describe


def test_world_file_lets_another_instance_revert(tmp_path: Path) -> None:
    world = tmp_path / "world.json"
    a = FakePlatform(world)
    a.up(StackSpec())
    inj = a.mesh_fault("ner", abort_status=503, percent=100)
    FakePlatform().revert(inj)  # a fresh process knows nothing but the injection
    assert FakePlatform(world).active_injections() == []


def test_spot_holding_picks_a_node_with_the_service_or_refuses_naming_it(
    fake: FakePlatform,
) -> None:
    fault = get_fault("spot_interruption")
    on = {r.node for r in fake.replicas("ner") if r.ready}
    spot = [n.name for n in fake.nodes() if "spot" in n.labels.values()]
    target = {"node_label": "spot", "holding": "ner"}
    if set(spot) & on:
        plan = fault.validate(entry("spot_interruption", target), fake)
        assert plan.targets[0] in on
        assert "ner" in plan.affects
    else:
        with pytest.raises(ConfigError, match="holds a ready ner replica") as exc:
            fault.validate(entry("spot_interruption", target), fake)
        assert exc.value.field == "faults[0].target.holding"
    with pytest.raises(ConfigError, match="holds a ready vision-x replica"):
        fault.validate(
            entry("spot_interruption", {"node_label": "spot", "holding": "vision-x"}), fake
        )
