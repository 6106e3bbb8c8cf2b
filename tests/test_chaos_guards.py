"""Guards: allow-list and blast radius."""

import pytest

from chaos import Guard, get_fault, plan_timeline
from chaos.testing import FakePlatform
from harness.errors import GuardViolation
from harness.platform.base import StackSpec
from harness.scenario import FaultEntry


@pytest.fixture
def fake() -> FakePlatform:
    p = FakePlatform()
    p.up(StackSpec())
    return p


GUARD = Guard(
    allow=("ner", "vision", "general-*", "spot-*", "redis"), max_concurrent=2, max_abort_percent=50
)


def e(kind: str, target: dict, allow_all: bool = False, **params: object) -> FaultEntry:
    return FaultEntry(0, 0.0, kind, target, dict(params), allow_all=allow_all)


def test_targets_outside_the_allow_list_are_refused(fake: FakePlatform) -> None:
    plan = get_fault("dependency_outage").validate(
        e("dependency_outage", {"dependency": "postgresql"}), fake
    )
    with pytest.raises(GuardViolation, match="not in the allow-list"):
        GUARD.check(plan)


def test_never_all_replicas_unless_the_scenario_says_so(fake: FakePlatform) -> None:
    kill = get_fault("kill")
    plan = kill.validate(e("kill", {"service": "ner"}, count=2), fake)
    with pytest.raises(GuardViolation, match="all 2 ready replica"):
        GUARD.check(plan)
    GUARD.check(kill.validate(e("kill", {"service": "ner"}, allow_all=True, count=2), fake))
    GUARD.check(kill.validate(e("kill", {"service": "ner"}, count=1), fake))


def test_draining_every_node_of_a_service_is_refused(fake: FakePlatform) -> None:
    plan = get_fault("drain").validate(e("drain", {"node": "*"}), fake)
    with pytest.raises(GuardViolation, match="would take all"):
        GUARD.check(plan)


def test_large_abort_percent_needs_allow_all(fake: FakePlatform) -> None:
    plan = get_fault("mesh_abort").validate(e("mesh_abort", {"route": "ner"}, percent=100), fake)
    with pytest.raises(GuardViolation, match="exceeds 50%"):
        GUARD.check(plan)


def test_concurrency_limit(fake: FakePlatform) -> None:
    plan = get_fault("mesh_delay").validate(e("mesh_delay", {"route": "ner"}, delay=0.1), fake)
    with pytest.raises(GuardViolation, match="already in force"):
        GUARD.check(plan, [plan, plan])


def test_plan_timeline_reports_refusals_without_injecting(fake: FakePlatform) -> None:
    planned = plan_timeline(
        [e("kill", {"service": "ner"}, count=5), e("mesh_delay", {"route": "ner"}, delay="1s")],
        fake,
        GUARD,
    )
    assert planned[0].problem
    assert "REFUSED" in planned[0].line()
    assert planned[1].problem is None
    assert fake.active_injections() == []
    assert not [c for c in fake.calls if c[0] in ("kill", "mesh_fault")]
