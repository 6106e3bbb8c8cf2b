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

from dataclasses import dataclass, field

from harness.platform.local.hpa.behavior import HpaState, hpa_step
from harness.platform.local.hpa.replicas import Tolerances, per_pod_replicas
from harness.platform.local.values import (
    K8S_DEFAULT_SCALE_DOWN,
    K8S_DEFAULT_SCALE_UP,
    HpaValues,
    KedaValues,
)

__all__ = ["HPA_SYNC_PERIOD_S", "KedaState", "keda_hpa_values", "keda_step", "milli"]

# --horizontal-pod-autoscaler-sync-period
HPA_SYNC_PERIOD_S = 15.0


def milli(value: float) -> int:
    """A value as the milli-quantity the metrics APIs carry: KEDA and Prometheus Adapter both
    build it as ``NewMilliQuantity(int64(value * 1000))``, truncating."""
    return int(value * 1000)


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
            since = state.last_active
            cooldown = keda.cooldown_s if since is not None else initial_cooldown_s
            if (since if since is not None else state.created) + cooldown < now:
                return 0
        elif current < keda.min_replicas:
            return keda.min_replicas
    if current == 0 or now < state.next_hpa_sync:
        return current
    state.next_hpa_sync = now + hpa_sync_period_s
    hpa = keda_hpa_values(keda, behavior)
    pods = status_replicas if status_replicas is not None else current
    proposal = per_pod_replicas(
        pods, milli(value), milli(keda.threshold), tolerances=Tolerances(tolerance, tolerance)
    )
    return hpa_step(state.hpa, now, current, proposal.replicas, hpa, behavior=behavior is not None)
