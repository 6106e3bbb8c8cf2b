"""Autoscaling as Kubernetes does it: the HPA algorithm and KEDA's scale-to-zero rules.

HPA (``autoscaling/v2``, as documented and as kube-controller-manager's
``replica_calculator.go`` / ``horizontal.go`` implement it):

1. ratio = average metric over ready replicas / target. If ``|ratio - 1| <= tolerance`` (0.1)
   keep the current count; else desired = ``ceil(ratio * ready)``. With missing metrics or
   not-yet-ready replicas the ratio is recomputed (missing count as 0 on a scale-up and as the
   target on a scale-down; unready as 0 on a scale-up) and the change is dropped if it flips
   direction or falls inside the tolerance.
2. Stabilization: the recommendation becomes the max of the recommendations within the
   scale-down window (and the min within the scale-up window), which stops flapping.
3. Scale policies: within each policy's ``periodSeconds`` the change is limited to ``value``
   Pods or ``value`` Percent of the replicas at the period's start; ``selectPolicy`` Max takes
   the policy allowing the largest change, Min the smallest, Disabled none.
4. Clamp to ``[minReplicas, maxReplicas]``.

KEDA (ScaledObject): the trigger is active while its value exceeds ``activationThreshold``;
from zero an active trigger scales to ``max(minReplicaCount, 1)``; while at one or more, KEDA's
HPA uses the trigger as an External ``AverageValue`` metric (desired = ``ceil(value /
threshold)``, same tolerance, behavior and limits); after ``cooldownPeriod`` seconds without
activity it scales to ``minReplicaCount`` (0). The trigger is polled every
``pollingInterval``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.platform.local.values import (
    K8S_DEFAULT_SCALE_DOWN,
    K8S_DEFAULT_SCALE_UP,
    HpaValues,
    KedaValues,
    LocalValues,
    ScalingRules,
)

__all__ = [
    "HpaState",
    "KedaState",
    "ScaleEvent",
    "external_average_replicas",
    "hpa_query",
    "hpa_step",
    "keda_hpa_values",
    "keda_step",
    "pods_metric_replicas",
]


def hpa_query(metric: str, service: str, local: LocalValues) -> str:
    """The PromQL the local metrics adapter answers the HPA's Pods metric with: one value per
    stable replica, the gauge averaged over ``local.hpaMetricWindow`` as a Prometheus Adapter
    rule with ``avg_over_time`` serves it (``0s``: the instant sample). Averaging matters for a
    gauge like pending requests: sampled once, a trickle of traffic shows 0 or 1 at random and
    a single 1 holds every replica through the scale-down window."""
    selector = f'{metric}{{service="{service}",version="stable"}}'
    w = local.hpa_metric_window_s
    if w > 0:
        selector = f"avg_over_time({selector}[{max(round(w * 1000), 1)}ms])"
    return f"sum by (replica) ({selector})"


def pods_metric_replicas(
    current: int,
    metrics: dict[str, float],
    target: float,
    *,
    ready: Sequence[str],
    unready: Sequence[str] = (),
    tolerance: float = 0.1,
) -> int:
    """Desired replicas for a Pods metric with an AverageValue target (calcPlainMetricReplicas).

    ``metrics`` maps replica name -> value (replicas without a sample are "missing");
    ``ready``/``unready`` are the replicas by readiness.
    """
    ready_metrics = {r: metrics[r] for r in ready if r in metrics}
    missing = [r for r in ready if r not in metrics]
    if not ready_metrics:
        return current  # no metrics at all: Kubernetes keeps the count (and reports an error)
    ratio = sum(ready_metrics.values()) / len(ready_metrics) / target
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * len(ready_metrics))
    values = dict(ready_metrics)
    for r in missing:
        values[r] = target if ratio < 1.0 else 0.0
    if scale_up_with_unready:
        for r in unready:
            values[r] = 0.0
    new_ratio = sum(values.values()) / len(values) / target
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    proposed = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and proposed > current) or (new_ratio > 1.0 and proposed < current):
        return current
    return proposed


def external_average_replicas(
    current: int, value: float, threshold: float, *, tolerance: float = 0.1
) -> int:
    """External metric with an AverageValue target (what KEDA's HPA uses)."""
    if current <= 0:
        return math.ceil(value / threshold) if value > 0 else 0
    ratio = value / (threshold * current)
    if abs(1.0 - ratio) <= tolerance:
        return current
    return math.ceil(value / threshold)


@dataclass(frozen=True)
class ScaleEvent:
    t: float
    change: int  # replicas added (scale up) or removed (scale down), > 0


@dataclass
class HpaState:
    """What the HPA controller remembers between syncs for one target."""

    recommendations: list[tuple[float, int]] = field(default_factory=list)
    ups: list[ScaleEvent] = field(default_factory=list)
    downs: list[ScaleEvent] = field(default_factory=list)
    initialized: bool = False

    def record_scale(self, now: float, before: int, after: int) -> None:
        if after > before:
            self.ups.append(ScaleEvent(now, after - before))
        elif after < before:
            self.downs.append(ScaleEvent(now, before - after))
        horizon = now - 3600
        self.ups = [e for e in self.ups if e.t > horizon]
        self.downs = [e for e in self.downs if e.t > horizon]


def _stabilize(state: HpaState, now: float, current: int, desired: int, hpa: HpaValues) -> int:
    up_cutoff = now - hpa.scale_up.stabilization_s
    down_cutoff = now - hpa.scale_down.stabilization_s
    up_rec, down_rec = desired, desired
    for t, rec in state.recommendations:
        if t > up_cutoff:
            up_rec = min(rec, up_rec)
        if t > down_cutoff:
            down_rec = max(rec, down_rec)
    keep = max(hpa.scale_up.stabilization_s, hpa.scale_down.stabilization_s)
    state.recommendations = [(t, r) for t, r in state.recommendations if t > now - keep]
    state.recommendations.append((now, desired))
    recommendation = current
    recommendation = max(recommendation, up_rec)
    return min(recommendation, down_rec)


def _changed_in(events: Sequence[ScaleEvent], now: float, period_s: float) -> int:
    return sum(e.change for e in events if e.t > now - period_s)


def _scale_up_limit(state: HpaState, now: float, current: int, rules: ScalingRules) -> int:
    if rules.select_policy == "Disabled":
        return current
    pick = min if rules.select_policy == "Min" else max
    result: int | None = None
    for p in rules.policies:
        start = (
            current
            - _changed_in(state.ups, now, p.period_s)
            + _changed_in(state.downs, now, p.period_s)
        )
        # Percent rounds up, so a small target can still grow (as Kubernetes does).
        proposed = start + p.value if p.type == "Pods" else math.ceil(start * (1 + p.value / 100))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def _scale_down_limit(state: HpaState, now: float, current: int, rules: ScalingRules) -> int:
    if rules.select_policy == "Disabled":
        return current
    pick = max if rules.select_policy == "Min" else min
    result: int | None = None
    for p in rules.policies:
        start = (
            current
            - _changed_in(state.ups, now, p.period_s)
            + _changed_in(state.downs, now, p.period_s)
        )
        proposed = start - p.value if p.type == "Pods" else int(start * (1 - p.value / 100))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def hpa_step(state: HpaState, now: float, current: int, desired_raw: int, hpa: HpaValues) -> int:
    """Stabilize, rate-limit and clamp one raw recommendation (normalizeDesiredReplicas-
    WithBehaviors); records the resulting scale event in ``state``."""
    if not state.initialized:
        # maybeInitScaleDownStabilizationWindow: a new HPA starts its window with the current
        # count, so it does not scale down before one window has passed.
        state.recommendations.append((now, current))
        state.initialized = True
    stabilized = _stabilize(state, now, current, desired_raw, hpa)
    result = stabilized
    if stabilized > current:
        limit = max(_scale_up_limit(state, now, current, hpa.scale_up), current)
        result = min(stabilized, hpa.max_replicas, limit)
    elif stabilized < current:
        limit = min(_scale_down_limit(state, now, current, hpa.scale_down), current)
        result = max(stabilized, hpa.min_replicas, limit)
    # Outside [min, max] after a spec change: bring it back in regardless of behavior.
    result = max(min(result, hpa.max_replicas), hpa.min_replicas)
    state.record_scale(now, current, result)
    return result


@dataclass
class KedaState:
    last_active: float | None = None
    hpa: HpaState = field(default_factory=HpaState)


def keda_hpa_values(keda: KedaValues, template: HpaValues | None) -> HpaValues:
    """The HPA KEDA creates for a ScaledObject: its limits, the chart's behavior if any."""
    return HpaValues(
        enabled=True,
        min_replicas=max(keda.min_replicas, 1),
        max_replicas=keda.max_replicas,
        metric="keda-trigger",
        target_average_value=keda.threshold,
        scale_up=template.scale_up if template else K8S_DEFAULT_SCALE_UP,
        scale_down=template.scale_down if template else K8S_DEFAULT_SCALE_DOWN,
    )


def keda_step(
    state: KedaState,
    now: float,
    current: int,
    value: float,
    keda: KedaValues,
    *,
    behavior: HpaValues | None = None,
    tolerance: float = 0.1,
    held: int = 0,
) -> int:
    """One KEDA poll: activation, scale from / to zero, and the HPA between 1 and max.

    ``held``: requests waiting at the gateway (HTTP add-on interceptor). Any held request
    makes the scaler active, whatever the activation threshold, as the add-on's scaler
    reports active while its queue is not empty; held requests also count in ``value``."""
    active = held > 0 or value > keda.activation_threshold
    if active:
        state.last_active = now
    if current == 0:
        return max(keda.min_replicas, 1) if active else keda.min_replicas
    idle_for = now - (state.last_active if state.last_active is not None else now)
    if not active and keda.min_replicas == 0 and idle_for >= keda.cooldown_s:
        state.hpa = HpaState()
        return 0
    if state.last_active is None:
        state.last_active = now  # cooldown counts from the first poll, as KEDA's does
    hpa = keda_hpa_values(keda, behavior)
    raw = external_average_replicas(current, value, keda.threshold, tolerance=tolerance)
    return hpa_step(state.hpa, now, current, max(raw, 1), hpa)
