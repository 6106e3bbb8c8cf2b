"""KEDA's ScaledObject as its operator applies it, with the HPA it creates.

Every ``pollingInterval`` the operator asks the trigger whether it is active (its value above
``activationThreshold``; with the HTTP add-on, any request waiting at the interceptor) and:

- active at 0 replicas: scales to ``max(minReplicaCount, 1)``; active above 0: records the
  time as ``lastActiveTime``;
- inactive above 0 with ``minReplicaCount`` 0: scales to 0 once ``lastActiveTime +
  cooldownPeriod`` is past, or, never active, once the ScaledObject is older than
  ``initialCooldownPeriod`` (0 by default);
- inactive below ``minReplicaCount``: scales to ``minReplicaCount``.

Between 1 and ``maxReplicaCount`` the HPA decides, on its own sync period (15 s), from the
trigger as an External metric with an AverageValue target of ``threshold`` per replica,
with the ScaledObject's ``advanced.horizontalPodAutoscalerConfig.behavior`` or, when it sets
none, as an HPA without behavior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from harness.platform.local.hpa.behavior import HpaState, hpa_step
from harness.platform.local.hpa.replicas import Tolerances, per_pod_replicas
from harness.values import (
    K8S_DEFAULT_SCALE_DOWN,
    K8S_DEFAULT_SCALE_UP,
    HpaValues,
    KedaValues,
)

__all__ = [
    "HPA_SYNC_PERIOD_S",
    "KedaState",
    "keda_hpa_values",
    "keda_milli",
    "keda_step",
    "milli",
    "quantity_milli",
]

# --horizontal-pod-autoscaler-sync-period
HPA_SYNC_PERIOD_S = 15.0


def milli(value: float) -> int:
    """A sample as Prometheus Adapter serves it: ``NewMilliQuantity(int64(value * 1000))``,
    truncated; NaN as 0."""
    return 0 if math.isnan(value) else int(value * 1000)


def keda_milli(value: float) -> int:
    """A trigger value (or threshold) as KEDA builds its quantity: the value printed with three
    decimals (rounded), NaN, infinities and negatives as 0."""
    if math.isnan(value) or math.isinf(value) or value < 0:
        return 0
    return int(Decimal(f"{value:.3f}") * 1000)


def quantity_milli(value: float) -> int:
    """A spec value (a quantity such as ``averageValue: "0.25"``) in milli-units: a quantity
    rounds up to the next milli-unit."""
    return math.ceil(Decimal(repr(value)) * 1000)


@dataclass
class KedaState:
    """The operator's status for one ScaledObject, and its HPA's state."""

    created: float | None = None
    last_active: float | None = None
    next_poll: float = 0.0
    next_hpa_sync: float = 0.0
    hpa: HpaState = field(default_factory=HpaState)


def keda_hpa_values(keda: KedaValues, template: HpaValues | None) -> HpaValues:
    """The HPA KEDA creates for a ScaledObject: its limits, and ``template``'s behavior
    (the defaults stand in when it has none; :func:`keda_step` then syncs without behavior)."""
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
    status_replicas: int | None = None,
    hpa_sync_period_s: float = HPA_SYNC_PERIOD_S,
    initial_cooldown_s: float = 0.0,
) -> int:
    """The replica count after whatever of the operator's poll and the HPA's sync is due at
    ``now``. ``held``: requests waiting at the HTTP add-on's interceptor (they make the
    trigger active whatever its threshold, and count in ``value``). ``status_replicas``: the
    pods the target has now (default ``current``)."""
    if state.created is None:
        state.created = now
    if now >= state.next_poll:
        state.next_poll = now + keda.polling_s
        active = held > 0 or value > keda.activation_threshold
        if active:
            state.last_active = now
            if current == 0:
                return max(keda.min_replicas, 1)
        elif current > 0 and keda.min_replicas == 0:
            if state.last_active is not None:
                cooled = state.last_active + keda.cooldown_s < now
            else:
                # Never active: the operator's first poll follows the ScaledObject's creation,
                # so with no initialCooldownPeriod it scales in at once.
                cooled = state.created + initial_cooldown_s <= now
            if cooled:
                return 0
        elif current < keda.min_replicas:
            return keda.min_replicas
    if current == 0 or now < state.next_hpa_sync:
        return current
    state.next_hpa_sync = now + hpa_sync_period_s
    hpa = keda_hpa_values(keda, behavior)
    pods = status_replicas if status_replicas is not None else current
    proposal = per_pod_replicas(
        pods,
        keda_milli(value),
        keda_milli(keda.threshold),
        tolerances=Tolerances(tolerance, tolerance),
    )
    return hpa_step(state.hpa, now, current, proposal.replicas, hpa, behavior=behavior is not None)
