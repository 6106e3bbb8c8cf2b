"""From a metric's replica count to the count the HPA sets: kube-controller-manager's
``reconcileAutoscaler`` after the metrics, with or without ``spec.behavior``.

1. The first sync of an HPA records the current count as a recommendation, so a new HPA does
   not scale down before one stabilization window has passed.
2. A count outside ``[minReplicas, maxReplicas]`` is brought inside at once; at 0 replicas with
   ``minReplicas`` > 0 scaling is disabled.
3. With ``behavior``: the recommendation is held between the lowest within the scale-up window
   and the highest within the scale-down window (the oldest stale entry is reused), then
   limited by the policies: within each policy's period the change from the replicas at the
   period's start is at most ``value`` Pods or ``value`` Percent (rounded up for a scale-up,
   down for a scale-down); ``selectPolicy`` Max takes the policy allowing the largest change,
   Min the smallest, Disabled none. Scale events older than the longest period are reused.
4. Without ``behavior`` (what KEDA's HPA gets from a ScaledObject that sets none): the highest
   recommendation within the controller's downscale window (5 min), and a scale-up of at most
   ``max(2 * current, 4)``; no scale events are kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.values import HpaValues, ScalingRules

__all__ = [
    "DOWNSCALE_STABILIZATION_S",
    "HpaState",
    "Recommendation",
    "ScaleEvent",
    "convert_with_behavior",
    "convert_with_rules",
    "hpa_step",
    "replicas_change",
    "scale_down_limit",
    "scale_up_limit",
    "stabilize",
    "stabilize_with_behavior",
    "store_scale_event",
]

# --horizontal-pod-autoscaler-downscale-stabilization, for HPAs without spec.behavior.
DOWNSCALE_STABILIZATION_S = 300.0


@dataclass
class Recommendation:
    replicas: int
    t: float


@dataclass
class ScaleEvent:
    change: int  # replicas added (scale-up list) or removed (scale-down list), > 0
    t: float
    outdated: bool = False


@dataclass
class HpaState:
    """What the HPA controller keeps between syncs for one HPA."""

    recommendations: list[Recommendation] | None = None
    ups: list[ScaleEvent] = field(default_factory=list)
    downs: list[ScaleEvent] = field(default_factory=list)


def replicas_change(events: Sequence[ScaleEvent], now: float, period_s: float) -> int:
    """Replicas changed by the events inside the last ``period_s`` seconds."""
    return sum(e.change for e in events if e.t > now - period_s)


def stabilize_with_behavior(
    state: HpaState,
    now: float,
    current: int,
    desired: int,
    up_window_s: float,
    down_window_s: float,
) -> int:
    recs = state.recommendations if state.recommendations is not None else []
    up_cutoff, down_cutoff = now - up_window_s, now - down_window_s
    up_rec = down_rec = desired
    old: int | None = None
    for i, rec in enumerate(recs):
        if rec.t > up_cutoff:
            up_rec = min(rec.replicas, up_rec)
        if rec.t > down_cutoff:
            down_rec = max(rec.replicas, down_rec)
        if rec.t < up_cutoff and rec.t < down_cutoff:
            old = i
    recommendation = min(max(current, up_rec), down_rec)
    if old is not None:
        recs[old] = Recommendation(desired, now)
    else:
        recs.append(Recommendation(desired, now))
    state.recommendations = recs
    return recommendation


def stabilize(state: HpaState, now: float, desired: int, window_s: float) -> int:
    """Without behavior: the highest recommendation within the downscale window."""
    recs = state.recommendations if state.recommendations is not None else []
    cutoff = now - window_s
    highest = desired
    old: int | None = None
    for i, rec in enumerate(recs):
        if rec.t < cutoff:
            old = i
        elif rec.replicas > highest:
            highest = rec.replicas
    if old is not None:
        recs[old] = Recommendation(desired, now)
    else:
        recs.append(Recommendation(desired, now))
    state.recommendations = recs
    return highest


def _period_start(state: HpaState, now: float, current: int, period_s: float) -> int:
    return (
        current
        - replicas_change(state.ups, now, period_s)
        + replicas_change(state.downs, now, period_s)
    )


def scale_up_limit(state: HpaState, now: float, current: int, rules: ScalingRules) -> int:
    if rules.select_policy == "Disabled":
        return current
    pick = min if rules.select_policy == "Min" else max
    result: int | None = None
    for p in rules.policies:
        start = _period_start(state, now, current, p.period_s)
        # Percent rounds up, or a small target could never grow.
        up = math.ceil(start * (1 + p.value / 100))
        proposed = start + p.value if p.type == "Pods" else up
        result = proposed if result is None else pick(result, proposed)
    return result if result is not None else current


def scale_down_limit(state: HpaState, now: float, current: int, rules: ScalingRules) -> int:
    if rules.select_policy == "Disabled":
        return current
    pick = max if rules.select_policy == "Min" else min
    result: int | None = None
    for p in rules.policies:
        start = _period_start(state, now, current, p.period_s)
        down = int(start * (1 - p.value / 100))  # truncated toward zero, as int32()
        proposed = start - p.value if p.type == "Pods" else down
        result = proposed if result is None else pick(result, proposed)
    return result if result is not None else current


def convert_with_behavior(
    state: HpaState,
    now: float,
    current: int,
    desired: int,
    lo: int,
    hi: int,
    up: ScalingRules,
    down: ScalingRules,
) -> tuple[int, str]:
    """The policies' rate limits and the bounds (convertDesiredReplicasWithBehaviorRate);
    returns the count and the ScalingLimited reason."""
    if desired > current:
        limit = max(scale_up_limit(state, now, current, up), current)
        allowed, reason = (limit, "ScaleUpLimit") if hi > limit else (hi, "TooManyReplicas")
        if desired > allowed:
            return allowed, reason
    elif desired < current:
        limit = min(scale_down_limit(state, now, current, down), current)
        allowed, reason = (limit, "ScaleDownLimit") if lo < limit else (lo, "TooFewReplicas")
        if desired < allowed:
            return allowed, reason
    return desired, "DesiredWithinRange"


def convert_with_rules(current: int, desired: int, lo: int, hi: int) -> tuple[int, str]:
    """The bounds without behavior (convertDesiredReplicasWithRules)."""
    up_limit = int(max(2.0 * current, 4.0))
    allowed, reason = (up_limit, "ScaleUpLimit") if hi > up_limit else (hi, "TooManyReplicas")
    if desired < lo:
        return lo, "TooFewReplicas"
    if desired > allowed:
        return allowed, reason
    return desired, "DesiredWithinRange"


def _longest_period(rules: ScalingRules) -> float:
    return max((p.period_s for p in rules.policies), default=0.0)


def store_scale_event(
    state: HpaState, now: float, before: int, after: int, up: ScalingRules, down: ScalingRules
) -> None:
    """Record a scale; an event older than the direction's longest policy period is reused."""
    if after > before:
        events, change, longest = state.ups, after - before, _longest_period(up)
    else:
        events, change, longest = state.downs, before - after, _longest_period(down)
    old: int | None = None
    for i, e in enumerate(events):
        if e.t < now - longest:
            e.outdated = True
        if e.outdated:
            old = i
    if old is not None:
        events[old] = ScaleEvent(change, now)
    else:
        events.append(ScaleEvent(change, now))


def hpa_step(
    state: HpaState,
    now: float,
    current: int,
    desired_raw: int | None,
    hpa: HpaValues,
    *,
    behavior: bool = True,
    downscale_stabilization_s: float = DOWNSCALE_STABILIZATION_S,
) -> int:
    """One HPA sync after the metrics: ``desired_raw`` is the metrics' count (None: no
    metric gave one, so nothing changes and no recommendation is recorded). ``behavior``
    False follows an HPA without ``spec.behavior``."""
    if state.recommendations is None:
        state.recommendations = [Recommendation(current, now)]
    lo, hi = hpa.min_replicas, hpa.max_replicas
    if current == 0 and lo != 0:
        return current  # scaling is disabled while the target has 0 replicas
    if current > hi:
        desired = hi
    elif current < lo:
        desired = lo
    elif desired_raw is None:
        return current
    elif behavior:
        stabilized = stabilize_with_behavior(
            state, now, current, desired_raw,
            hpa.scale_up.stabilization_s, hpa.scale_down.stabilization_s,
        )  # fmt: skip
        desired, _ = convert_with_behavior(
            state, now, current, stabilized, lo, hi, hpa.scale_up, hpa.scale_down
        )
    else:
        stabilized = stabilize(state, now, desired_raw, downscale_stabilization_s)
        desired, _ = convert_with_rules(current, stabilized, lo, hi)
    if desired != current and behavior:
        store_scale_event(state, now, current, desired, hpa.scale_up, hpa.scale_down)
    return desired
