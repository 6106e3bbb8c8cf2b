"""Autoscaling as Kubernetes does it, for the local controller: the Pods metric the chart's
HPA reads, and KEDA's ScaledObject. The algorithms live in :mod:`harness.platform.local.hpa`
(kube-controller-manager's replica calculator, pod grouping and behavior; KEDA's operator);
this module holds what the controller calls with Prometheus' answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.platform.local.hpa import (
    HpaState,
    KedaState,
    MetricsUnavailable,
    PodInfo,
    PodMetric,
    Tolerances,
    hpa_step,
    keda_hpa_values,
    keda_milli,
    keda_step,
    milli,
    per_pod_replicas,
    plain_replicas,
    quantity_milli,
    replica_pods,
)
from harness.values import LocalValues

__all__ = [
    "HpaState",
    "KedaState",
    "MetricsUnavailable",
    "PodInfo",
    "external_average_replicas",
    "hpa_query",
    "hpa_step",
    "keda_hpa_values",
    "keda_step",
    "pods_metric_replicas",
    "replica_pods",
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
    metrics: Mapping[str, float],
    target: float,
    pods: Sequence[PodInfo],
    *,
    now: float = 0.0,
    tolerance: float = 0.1,
) -> int:
    """Desired replicas for the chart's Pods metric with an AverageValue target.

    ``metrics`` maps replica name -> value as Prometheus answers it; ``pods`` are the target's
    pods (:func:`replica_pods`). Raises :class:`MetricsUnavailable` when no sample is usable,
    as kube-controller-manager then keeps the count."""
    samples = {name: PodMetric(milli(v), now) for name, v in metrics.items()}
    tol = Tolerances(tolerance, tolerance)
    target_milli = quantity_milli(target)
    return plain_replicas(current, samples, target_milli, pods, now, tolerances=tol).replicas


def external_average_replicas(
    status_replicas: int, value: float, threshold: float, *, tolerance: float = 0.1
) -> int:
    """External metric with an AverageValue target (what KEDA's HPA uses)."""
    tol = Tolerances(tolerance, tolerance)
    usage, per_pod = keda_milli(value), keda_milli(threshold)
    return per_pod_replicas(status_replicas, usage, per_pod, tolerances=tol).replicas
