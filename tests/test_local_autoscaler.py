"""The HPA algorithm and KEDA rules, against the documented Kubernetes behaviour."""

import pytest

from harness.platform.base import StackSpec
from harness.platform.local.autoscaler import (
    HpaState,
    KedaState,
    MetricsUnavailable,
    PodInfo,
    external_average_replicas,
    hpa_query,
    hpa_step,
    keda_step,
    pods_metric_replicas,
)
from harness.values import (
    HpaValues,
    KedaValues,
    ScalingPolicy,
    ScalingRules,
    load_stack,
)


def _hpa(
    up: ScalingRules | None = None,
    down: ScalingRules | None = None,
    lo: int = 1,
    hi: int = 10,
) -> HpaValues:
    return HpaValues(
        enabled=True,
        min_replicas=lo,
        max_replicas=hi,
        metric="m",
        target_average_value=8,
        scale_up=up or ScalingRules(0, (ScalingPolicy("Pods", 100, 15),)),
        scale_down=down or ScalingRules(0, (ScalingPolicy("Pods", 100, 15),)),
    )


def _ready(n: int) -> list[PodInfo]:
    return [PodInfo(f"r{i}") for i in range(n)]


def test_ratio_and_ceiling() -> None:
    # 2 replicas at 20 pending each against a target of 8: ceil(2 * 20/8) = 5
    assert pods_metric_replicas(2, {"r0": 20, "r1": 20}, 8, _ready(2)) == 5


def test_within_tolerance_keeps_count() -> None:
    # ratio 8.7/8 = 1.0875, inside the 10% tolerance
    assert pods_metric_replicas(3, {"r0": 8.7, "r1": 8.7, "r2": 8.7}, 8, _ready(3)) == 3
    # just outside: 9/8 = 1.125 -> ceil(3 * 1.125) = 4
    assert pods_metric_replicas(3, {"r0": 9, "r1": 9, "r2": 9}, 8, _ready(3)) == 4


def test_missing_metrics_damp_a_scale_up() -> None:
    # r1 has no sample: on a scale-up it counts as 0; avg (16 + 0) / 2 = 8 -> ratio 1 -> keep
    assert pods_metric_replicas(2, {"r0": 16}, 8, _ready(2)) == 2


def test_missing_metrics_damp_a_scale_down() -> None:
    # r1 missing counts as the target on a scale-down: (0 + 8)/2/8 = 0.5 -> ceil(0.5*2) = 1
    assert pods_metric_replicas(2, {"r0": 0}, 8, _ready(2)) == 1
    # with 3 replicas, two missing: (0 + 8 + 8)/3/8 = 0.667 -> ceil(2) = 2
    assert pods_metric_replicas(3, {"r0": 0}, 8, _ready(3)) == 2


def test_pending_pods_count_as_zero_on_scale_up() -> None:
    # r0 at 24 (ratio 3) with one Pending pod: (24 + 0)/2/8 = 1.5 -> ceil(1.5*2) = 3
    pods = [PodInfo("r0"), PodInfo("u0", phase="Pending", ready=False)]
    assert pods_metric_replicas(2, {"r0": 24}, 8, pods) == 3


def test_running_unready_pods_count_with_their_samples() -> None:
    # For a Pods metric readiness does not matter: a Running, not Ready pod's sample counts.
    pods = [PodInfo("r0"), PodInfo("r1", ready=False)]
    assert pods_metric_replicas(2, {"r0": 24, "r1": 24}, 8, pods) == 6
    # ... and one without a sample is missing: 0 on a scale-up, (24 + 0)/2/8 -> 3
    assert pods_metric_replicas(2, {"r0": 24}, 8, pods) == 3


def test_no_usable_sample_is_an_error_not_a_count() -> None:
    pods = [PodInfo("r0", phase="Pending", ready=False), PodInfo("r1", deleting=True)]
    with pytest.raises(MetricsUnavailable):
        pods_metric_replicas(2, {"r1": 24}, 8, pods)


def test_scale_down_stabilization_window_holds_the_max() -> None:
    hpa = _hpa(down=ScalingRules(60, (ScalingPolicy("Pods", 100, 15),)))
    st = HpaState()
    assert hpa_step(st, 0.0, 4, 4, hpa) == 4
    # load drops: raw 1, but within 60 s the highest recommendation (4) wins
    assert hpa_step(st, 10.0, 4, 1, hpa) == 4
    assert hpa_step(st, 59.0, 4, 1, hpa) == 4
    # once the 4 is older than the window, the max is 1
    assert hpa_step(st, 61.0, 4, 1, hpa) == 1


def test_a_new_hpa_waits_one_window_before_scaling_down() -> None:
    hpa = _hpa(down=ScalingRules(60, (ScalingPolicy("Pods", 100, 15),)))
    st = HpaState()
    assert hpa_step(st, 0.0, 4, 1, hpa) == 4  # the window starts with the current 4
    assert hpa_step(st, 61.0, 4, 1, hpa) == 1


def test_scale_up_pods_policy_limits_rate_per_period() -> None:
    hpa = _hpa(up=ScalingRules(0, (ScalingPolicy("Pods", 2, 15),)))
    st = HpaState()
    assert hpa_step(st, 0.0, 1, 8, hpa) == 3  # +2 per 15 s
    assert hpa_step(st, 5.0, 3, 8, hpa) == 3  # still in the same period: no more
    assert hpa_step(st, 16.0, 3, 8, hpa) == 5


def test_select_policy_max_and_min() -> None:
    pols = (ScalingPolicy("Pods", 4, 60), ScalingPolicy("Percent", 100, 60))
    st = HpaState()
    # current 10: Pods allows 14, Percent allows 20; Max picks the larger change
    assert hpa_step(st, 0.0, 10, 40, _hpa(up=ScalingRules(0, pols, "Max"), hi=100)) == 20
    st = HpaState()
    assert hpa_step(st, 0.0, 10, 40, _hpa(up=ScalingRules(0, pols, "Min"), hi=100)) == 14
    st = HpaState()
    assert hpa_step(st, 0.0, 10, 40, _hpa(up=ScalingRules(0, pols, "Disabled"), hi=100)) == 10


def test_scale_down_percent_policy() -> None:
    hpa = _hpa(down=ScalingRules(0, (ScalingPolicy("Percent", 50, 60),)), lo=1)
    st = HpaState()
    assert hpa_step(st, 0.0, 10, 1, hpa) == 5  # at most half per minute
    assert hpa_step(st, 30.0, 5, 1, hpa) == 5  # period not over: start was 10, 50% = 5
    assert hpa_step(st, 61.0, 5, 1, hpa) == 2  # floor(5 * 0.5)


def test_min_and_max_clamp() -> None:
    assert hpa_step(HpaState(), 0.0, 3, 50, _hpa(hi=4)) == 4
    assert hpa_step(HpaState(), 0.0, 3, 0, _hpa(lo=2)) == 2


def test_external_average_value() -> None:
    assert external_average_replicas(2, 40, 8) == 5
    assert external_average_replicas(5, 41, 8) == 5  # 41/40 inside tolerance
    assert external_average_replicas(0, 3, 8) == 1


def _keda(cooldown: float = 10, activation: float = 1) -> KedaValues:
    return KedaValues(
        enabled=True,
        min_replicas=0,
        max_replicas=4,
        activation_threshold=activation,
        threshold=8,
        cooldown_s=cooldown,
        polling_s=1,
        query="q",
        hold_enabled=True,
        hold_timeout_s=60,
    )


def test_keda_activation_threshold_and_scale_from_zero() -> None:
    st = KedaState()
    assert keda_step(st, 0.0, 0, 0.5, _keda()) == 0  # below activation: stays at zero
    assert keda_step(st, 1.0, 0, 2.0, _keda()) == 1  # active: to one replica


def test_keda_a_held_request_activates_below_the_threshold() -> None:
    # one request held at the gateway, activationThreshold 1: the add-on still scales from 0
    assert keda_step(KedaState(), 0.0, 0, 1.0, _keda(activation=1), held=1) == 1
    assert keda_step(KedaState(), 0.0, 0, 1.0, _keda(activation=1), held=0) == 0


def test_keda_cooldown_then_zero() -> None:
    st = KedaState()
    k = _keda(cooldown=10)
    assert keda_step(st, 0.0, 1, 5.0, k) == 1
    assert keda_step(st, 5.0, 1, 0.0, k) == 1  # idle 5 s < cooldown
    assert keda_step(st, 9.9, 1, 0.0, k) == 1
    assert keda_step(st, 10.0, 1, 0.0, k) == 1  # next poll at 10.9 (pollingInterval 1 s)
    assert keda_step(st, 11.0, 1, 0.0, k) == 0  # lastActiveTime + cooldown is past


def test_keda_never_active_scales_to_zero_without_a_cooldown() -> None:
    # lastActiveTime unset and initialCooldownPeriod 0: the first poll scales in
    assert keda_step(KedaState(), 0.0, 1, 0.0, _keda(cooldown=10)) == 0
    # with an initialCooldownPeriod, not before it has passed since creation
    st = KedaState()
    assert keda_step(st, 0.0, 1, 0.0, _keda(cooldown=10), initial_cooldown_s=5) == 1
    assert keda_step(st, 5.0, 1, 0.0, _keda(cooldown=10), initial_cooldown_s=5) == 0


def test_quantities_round_as_the_apis_do() -> None:
    from harness.platform.local.hpa import keda_milli, milli, quantity_milli

    assert milli(0.0149) == 14  # Prometheus Adapter truncates
    assert keda_milli(0.0149) == 15  # KEDA prints three decimals
    assert keda_milli(-1.0) == 0
    assert quantity_milli(4.35) == 4350  # 4.35 * 1000 is 4349.99... as a float
    assert quantity_milli(0.0001) == 1  # a quantity rounds up to the next milli-unit


def test_keda_polls_on_its_interval_and_the_hpa_on_its_sync_period() -> None:
    k = _keda(cooldown=100)
    st = KedaState()
    assert keda_step(st, 0.0, 1, 30.0, k) == 4  # poll + first HPA sync: ceil(30/8)
    # the HPA syncs again only after 15 s, however often KEDA polls
    assert keda_step(st, 5.0, 4, 40.0, k, status_replicas=1) == 4
    assert st.hpa.recommendations is not None
    assert len(st.hpa.recommendations) == 2
    # at 15 s it syncs (8 over 4 pods: 1 replica), but an HPA without behavior holds the
    # highest recommendation of the last 5 minutes
    assert keda_step(st, 15.0, 4, 8.0, k, status_replicas=4) == 4
    assert st.hpa.recommendations[-1].replicas == 1


def test_keda_hpa_divides_by_the_pods_the_target_has() -> None:
    # 24 over 3 pods (one Pending) at threshold 8: ratio 1.0 -> keep 3; over 2 pods: ceil(3)
    k = _keda(cooldown=100)
    assert keda_step(KedaState(), 0.0, 3, 24.0, k, status_replicas=3) == 3
    assert keda_step(KedaState(), 0.0, 2, 24.0, k, status_replicas=2) == 3


def test_keda_scales_out_by_threshold() -> None:
    st = KedaState()
    assert keda_step(st, 0.0, 1, 30.0, _keda()) == 4  # ceil(30/8) = 4 = max


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_keda_not_above_activation_is_inactive(value: float) -> None:
    st = KedaState()
    assert keda_step(st, 0.0, 0, value, _keda(activation=1)) == 0


def test_the_pods_metric_is_averaged_over_the_window_per_replica() -> None:
    local = load_stack(StackSpec()).local
    assert local.hpa_metric_window_s == 10
    assert hpa_query("m", "ner", local) == (
        'sum by (replica) (avg_over_time(m{service="ner",version="stable"}[10000ms]))'
    )
    instant = load_stack(StackSpec(overrides={"local.hpaMetricWindow": "0s"})).local
    assert hpa_query("m", "ner", instant) == 'sum by (replica) (m{service="ner",version="stable"})'


def _rep(name: str, *, phase: str = "running", ready: bool = True, version: str = "stable"):  # type: ignore[no-untyped-def]
    from harness.platform.local.controller import Rep

    return Rep(
        name, name.split("-", maxsplit=1)[0], version, "node-a", 0, None, 5.0, phase, ready, 7.0
    )  # type: ignore[arg-type]


def test_the_controller_lists_its_replicas_as_pods_by_phase() -> None:
    """The call site: what each local replica state becomes for the HPA (no processes)."""
    from harness.platform.local.controller import Controller

    ctl = object.__new__(Controller)
    reps = [
        _rep("ner-stable-0"),
        _rep("ner-stable-1", ready=False),  # started, model still loading
        _rep("ner-stable-2", phase="evicting"),
        _rep("ner-stable-3", phase="terminating", ready=False),
        _rep("ner-canary-0", version="canary"),
        _rep("vision-stable-0"),
    ]
    ctl.replicas = {r.name: r for r in reps}
    ctl.backoff_until = {}
    pods = {p.name: p for p in ctl._hpa_pods("ner", 4, 10.0)}
    assert set(pods) == {
        "ner-stable-0",
        "ner-stable-1",
        "ner-stable-2",
        "ner-stable-3",
        "ner-unschedulable-0",
        "ner-unschedulable-1",
    }
    assert (pods["ner-stable-0"].phase, pods["ner-stable-0"].ready) == ("Running", True)
    assert (pods["ner-stable-1"].phase, pods["ner-stable-1"].ready) == ("Running", False)
    assert pods["ner-stable-2"].deleting
    assert pods["ner-stable-3"].deleting
    assert not pods["ner-stable-0"].deleting
    assert not pods["ner-stable-1"].deleting
    assert pods["ner-unschedulable-0"].phase == "Pending"
    # a starting replica keeps its sample; the unscheduled ones count as 0 on a scale-up
    metrics = {"ner-stable-0": 24.0, "ner-stable-1": 24.0, "ner-stable-2": 24.0}
    assert pods_metric_replicas(4, metrics, 8, list(pods.values())) == 6
    # waiting out a crash back-off: the pod is there, Running and not Ready
    ctl.backoff_until = {("ner", "stable"): 20.0}
    restarting = [p for p in ctl._hpa_pods("ner", 4, 10.0) if "restarting" in p.name]
    assert [(p.phase, p.ready) for p in restarting] == [("Running", False)] * 2
