"""Kubernetes' own HPA test vectors, run against the local autoscaler.

The cases are data (``tests/data/hpa/*.yaml``) ported from kube-controller-manager's
``replica_calculator_test.go`` and ``horizontal_test.go``, each named after its upstream test.
Every metric source type the HPA knows is covered: Resource cpu (Utilization), Pods, Object,
Object per-pod, External, External per-pod; memory shares the Resource path and its one
upstream case is in the pod grouping. Upstream cases that do not apply are listed in
NOT_APPLICABLE with the reason.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.platform.local.hpa.behavior import (
    HpaState,
    Recommendation,
    ScaleEvent,
    convert_with_behavior,
    convert_with_rules,
    replicas_change,
    scale_down_limit,
    scale_up_limit,
    stabilize,
    stabilize_with_behavior,
    store_scale_event,
)
from harness.platform.local.hpa.pods import PodInfo, PodMetric, group_pods
from harness.platform.local.hpa.replicas import (
    MetricsUnavailable,
    Tolerances,
    external_replicas,
    external_sum,
    object_replicas,
    per_pod_replicas,
    plain_replicas,
    resource_replicas,
)
from harness.values import (
    K8S_DEFAULT_SCALE_DOWN,
    K8S_DEFAULT_SCALE_UP,
    ScalingPolicy,
    ScalingRules,
)

DATA = Path(__file__).parent / "data" / "hpa"
NOW = 1_000_000.0
HOT = NOW - 30.0  # inside the CPU initialization period
COOL = NOW - 3600.0

# Upstream tests of this package that are not ported, and why.
NOT_APPLICABLE = {
    "TestCalculateRequests": "pod-level requests and restartable init containers: the local "
    "platform has no pod specs with requests (its replicas are processes)",
    "TestCalculatePodRequestsFromContainers_NonExistentContainer": "same: no container specs",
    "TestScaleUp*/TestScaleDown* (horizontal_test.go controller cases)": "they drive the whole "
    "controller through fake API clients; the replica counts they check come from the "
    "replica calculator and normalization cases ported here",
}


def _load(name: str) -> Any:
    return yaml.safe_load((DATA / name).read_text())


def _params(cases: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(c, id=c["name"]) for c in cases]


CALC = _load("replica_calculator.yaml")
GROUPS = _load("group_pods.yaml")
BEHAVIOR = _load("behavior.yaml")


def _pods(c: dict[str, Any]) -> list[PodInfo]:
    phases = c.get("phase") or []
    count = max(c["current"], len(phases))
    ready = c.get("ready") or []
    start = c.get("start") or []
    deleting = c.get("deleting") or []
    requests = c.get("requests") or []
    pods = []
    for i in range(count):
        req: tuple[tuple[str, int | None], ...] = (("container1", None), ("container2", None))
        if i < len(requests):
            req = (("container1", requests[i]), ("container2", requests[i]))
        pods.append(
            PodInfo(
                f"test-pod-{i}",
                phase=phases[i] if i < len(phases) else "Running",
                ready=ready[i] if i < len(ready) else True,
                deleting=deleting[i] if i < len(deleting) else False,
                start_time={"hot": HOT, "cool": COOL}[start[i]] if i < len(start) else 0.0,
                requests=req,
            )
        )
    return pods


def _resource_metrics(c: dict[str, Any]) -> dict[str, PodMetric]:
    names = c.get("pod_names") or []
    container = c.get("container", "")
    out = {}
    for i, level in enumerate(c["levels"]):
        per_container = [level, level] if isinstance(level, int) else list(level)
        name = names[i] if i < len(names) else f"test-pod-{i}"
        if container:
            idx = int(container.removeprefix("container")) - 1
            if idx < len(per_container):
                out[name] = PodMetric(per_container[idx])
        elif len(per_container) == 2:  # a container without usage drops the pod's sample
            out[name] = PodMetric(sum(per_container))
    return out


def _tolerances(c: dict[str, Any]) -> Tolerances:
    down, up = c.get("tolerances") or (0.1, 0.1)
    return Tolerances(down, up)


@pytest.mark.parametrize("case", _params(CALC))
def test_replica_calculator(case: dict[str, Any]) -> None:
    c, tol, pods = case, _tolerances(case), _pods(case)
    kind = c["type"]
    if kind == "resource":
        metrics = _resource_metrics(c)

        def run() -> Any:
            if not metrics:  # the resource metrics API answered an empty list
                raise MetricsUnavailable("no metrics returned from resource metrics API")
            return resource_replicas(
                c["current"], metrics, c["target"], pods, NOW,
                container=c.get("container", ""), tolerances=tol,
            )  # fmt: skip
    elif kind == "pods":
        samples = {f"test-pod-{i}": PodMetric(v) for i, v in enumerate(c["levels"])}

        def run() -> Any:
            return plain_replicas(c["current"], samples, c["target"], pods, NOW, tolerances=tol)
    elif kind == "object":

        def run() -> Any:
            return object_replicas(c["current"], c["levels"][0], c["target"], pods, tolerances=tol)
    elif kind == "external":

        def run() -> Any:
            return external_replicas(c["current"], c["levels"], c["target"], pods, tolerances=tol)
    else:
        usage = c["levels"][0] if kind == "object_per_pod" else external_sum(c["levels"])

        def run() -> Any:
            return per_pod_replicas(c["current"], usage, c["target"], tolerances=tol)

    if "error" in c:
        with pytest.raises(MetricsUnavailable, match=c["error"]):
            run()
        return
    got = run()
    assert got.replicas == c["expected"]
    assert got.usage == c["usage"]
    if "utilization" in c:
        assert got.utilization == c["utilization"]


def test_the_two_cases_the_local_controller_got_wrong() -> None:
    """Running, not Ready pods keep their samples for a Pods metric (only Pending is unready)."""
    names = {c["name"]: c for c in CALC}
    for name, want in [
        ("TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale", 6),
        ("TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown", 7),
    ]:
        c = names[name]
        samples = {f"test-pod-{i}": PodMetric(v) for i, v in enumerate(c["levels"])}
        got = plain_replicas(c["current"], samples, c["target"], _pods(c), NOW)
        assert got.replicas == want


@pytest.mark.parametrize("case", _params(GROUPS))
def test_group_pods(case: dict[str, Any]) -> None:
    pods = [
        PodInfo(
            p["name"],
            phase=p["phase"],
            ready=p.get("ready"),
            deleting=p.get("deleting", False),
            start_time=None if p.get("start_age") is None else NOW - p["start_age"],
            ready_transition=NOW - p.get("transition_age", NOW),
        )
        for p in case["pods"]
    ]
    metrics = {
        name: PodMetric(
            1,
            0.0 if m.get("ts_age") is None else NOW - m["ts_age"],
            m.get("window", 60),
        )
        for name, m in case["metrics"].items()
    }
    g = group_pods(
        pods, metrics, case["resource"], NOW,
        cpu_initialization_period_s=120, delay_of_initial_readiness_s=10,
    )  # fmt: skip
    assert g.ready_count == case["ready_count"]
    assert g.unready == set(case["unready"])
    assert g.missing == set(case["missing"])
    assert g.ignored == set(case["ignored"])


def _rules(spec: list[int] | None, default: ScalingRules) -> ScalingRules:
    if spec is None:
        return default
    pods, pods_period, percent, percent_period, window = spec
    policies = []
    if pods:
        policies.append(ScalingPolicy("Pods", pods, pods_period))
    if percent:
        policies.append(ScalingPolicy("Percent", percent, percent_period))
    return ScalingRules(window, tuple(policies), "Max")


def _events(spec: dict[str, Any] | None) -> list[ScaleEvent]:
    if not spec:
        return []
    changes, spread = spec["changes"], spec["spread"]
    segment = spread / len(changes)
    return [
        ScaleEvent(change, NOW - (spread - segment * (i + 1) + segment / 2))
        for i, change in enumerate(changes)
    ]


@pytest.mark.parametrize("case", _params(BEHAVIOR["scaling_with_rules"]))
def test_scaling_with_rules(case: dict[str, Any]) -> None:
    state = HpaState(ups=_events(case.get("ups")), downs=_events(case.get("downs")))
    got = convert_with_behavior(
        state, NOW, case["current"], case["desired"], case["min"], case["max"],
        _rules(case.get("up"), K8S_DEFAULT_SCALE_UP),
        _rules(case.get("down"), K8S_DEFAULT_SCALE_DOWN),
    )  # fmt: skip
    assert got == (case["expected"], case["condition"])


def _recs(spec: list[list[int]]) -> list[Recommendation]:
    return [Recommendation(r, NOW - age) for r, age in spec]


@pytest.mark.parametrize("case", _params(BEHAVIOR["normalize_with_behavior"]))
def test_normalize_desired_replicas_with_behavior(case: dict[str, Any]) -> None:
    state = HpaState(recommendations=_recs(case["recommendations"]))
    got = stabilize_with_behavior(
        state, NOW, case["current"], case["desired"], case["up_window"], case["down_window"]
    )
    assert got == case["expected"]
    assert [r.replicas for r in state.recommendations or []] == case["after"]


@pytest.mark.parametrize("case", _params(BEHAVIOR["normalize"]))
def test_normalize_desired_replicas(case: dict[str, Any]) -> None:
    state = HpaState(recommendations=_recs(case["recommendations"]))
    assert stabilize(state, NOW, case["desired"], 300.0) == case["expected"]
    assert len(state.recommendations or []) == case["log_length"]


@pytest.mark.parametrize("case", _params(BEHAVIOR["convert_with_rules"]))
def test_convert_desired_replicas_with_rules(case: dict[str, Any]) -> None:
    got = convert_with_rules(case["current"], case["desired"], case["min"], case["max"])
    assert got == (case["expected"], case["condition"])


@pytest.mark.parametrize("case", _params(BEHAVIOR["store_scale_events"]))
@pytest.mark.parametrize("direction", ["up", "down"])
def test_store_scale_events(case: dict[str, Any], direction: str) -> None:
    events = [ScaleEvent(change, NOW - age) for change, age in case["before"]]
    state = HpaState(ups=events) if direction == "up" else HpaState(downs=events)
    assert replicas_change(events, NOW, 60) == case["change_60s"]
    if case["rules"] is not None:  # an HPA without behavior keeps no events
        rules = _rules(case["rules"], K8S_DEFAULT_SCALE_UP)
        after = 10 + 5 if direction == "up" else 10 - 5
        store_scale_event(state, NOW, 10, after, rules, rules)
    stored = state.ups if direction == "up" else state.downs
    assert [[e.change, e.outdated] for e in stored] == case["after"]


@pytest.mark.parametrize("case", _params(BEHAVIOR["scale_limits"]))
def test_scale_limits(case: dict[str, Any]) -> None:
    policies = tuple(ScalingPolicy(t, v, p) for t, v, p in case["policies"])
    rules = ScalingRules(300, policies, case["select"])
    limit = scale_up_limit if case["direction"] == "up" else scale_down_limit
    assert limit(HpaState(), NOW, case["current"], rules) == case["expected"]


def test_every_case_is_named_after_an_upstream_test() -> None:
    calc_names = {c["name"] for c in CALC}
    assert len(calc_names) == len(CALC)
    assert all(
        n.startswith(("TestReplicaCalc", "TestPlainMetric", "TestExternal")) for n in calc_names
    )
    counts = {t: sum(c["type"] == t for c in CALC) for t in {c["type"] for c in CALC}}
    assert set(counts) == {
        "resource",
        "pods",
        "object",
        "object_per_pod",
        "external",
        "external_per_pod",
    }


KEDA_NOT_APPLICABLE = {
    "TestScaleToIdleReplicasWhenNotActive": "idleReplicaCount: the chart sets none",
    "TestScaleFromIdleToMinReplicasWhenActive": "idleReplicaCount: the chart sets none",
    "TestScaleToPausedReplicasCount": "pause annotations: the chart sets none",
    "TestNoScaleToMinReplicasWhenNotActiveAndPauseScaleInAnnotationSet": "pause annotations",
    "TestNoScaleToIdleReplicasWhenNotActiveAndPauseScaleInAnnotationSet": "pause annotations",
    "TestScaleFromMinReplicasWhenActivationForced": "force-activation annotation",
    "TestNoScaleFromMinReplicasWhenActiveAndPausedScaleOutAnnotationSet": "pause annotations",
    "TestNoScaleFromIdleReplicasToMinReplicasWhenActiveAndPausedScaleOutAnnotationSet": "pause "
    "annotations and idleReplicaCount",
    "TestEventWitTriggerInfo, TestGetHPAHealth_*, TestRequestScale_*, "
    "TestCheckHPAHealth_*": "status conditions and events, not replica counts",
}


@pytest.mark.parametrize("case", _params(_load("keda.yaml")))
def test_keda_scale_executor(case: dict[str, Any]) -> None:
    from harness.platform.local.hpa.keda import KedaState, keda_step
    from harness.values import KedaValues

    keda = KedaValues(
        enabled=True,
        min_replicas=case["min"],
        max_replicas=100,
        activation_threshold=0.0,
        threshold=1.0,
        cooldown_s=300.0,
        polling_s=30.0,
        query="q",
        hold_enabled=False,
        hold_timeout_s=60.0,
    )
    state = KedaState(created=NOW - 3600.0, last_active=case["last_active"], next_hpa_sync=math.inf)
    value = 1.0 if case["active"] else 0.0
    assert keda_step(state, NOW, case["current"], value, keda) == case["expected"]
    if case.get("records_active"):
        assert state.last_active == NOW
