"""kube-controller-manager's HPA and KEDA's operator, as the local platform runs them.

- :mod:`.pods`: how the HPA groups pods (phase, readiness, deletion, metric presence), and
  which local replica state maps to which pod phase;
- :mod:`.replicas`: the replica calculator, one function per metric source type;
- :mod:`.behavior`: stabilization windows, scaling policies and bounds;
- :mod:`.keda`: activation, polling, cooldown, and the HPA KEDA creates.
"""

from harness.platform.local.hpa.behavior import HpaState, hpa_step
from harness.platform.local.hpa.keda import (
    KedaState,
    keda_hpa_values,
    keda_milli,
    keda_step,
    milli,
    quantity_milli,
)
from harness.platform.local.hpa.pods import PodInfo, PodMetric, group_pods, replica_pods
from harness.platform.local.hpa.replicas import (
    MetricsUnavailable,
    Proposal,
    Tolerances,
    external_replicas,
    object_replicas,
    per_pod_replicas,
    plain_replicas,
    resource_replicas,
)

__all__ = [
    "HpaState",
    "KedaState",
    "MetricsUnavailable",
    "PodInfo",
    "PodMetric",
    "Proposal",
    "Tolerances",
    "external_replicas",
    "group_pods",
    "hpa_step",
    "keda_hpa_values",
    "keda_milli",
    "keda_step",
    "milli",
    "object_replicas",
    "per_pod_replicas",
    "plain_replicas",
    "quantity_milli",
    "replica_pods",
    "resource_replicas",
]
