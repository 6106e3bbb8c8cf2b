"""The replica calculator of kube-controller-manager, one function per metric source type.

Values are milli-units (integers), as the HPA reads ``resource.Quantity.MilliValue()``, and
averages use integer division where kube-controller-manager's do, so a count computed here is
the count a cluster computes from the same samples.

| metric (target)                    | function                   |
| ---------------------------------- | -------------------------- |
| Resource cpu/memory (Utilization)  | :func:`resource_replicas`  |
| Resource cpu/memory (AverageValue) | :func:`plain_replicas`     |
| Pods (AverageValue)                | :func:`plain_replicas`     |
| Object (Value)                     | :func:`object_replicas`    |
| Object (AverageValue)              | :func:`per_pod_replicas`   |
| External (Value)                   | :func:`external_replicas`  |
| External (AverageValue)            | :func:`per_pod_replicas` on the summed samples |

A sync with no usable samples raises :class:`MetricsUnavailable`; the HPA then keeps the
count and records no recommendation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.errors import PlatformError
from harness.platform.local.hpa.pods import PodInfo, PodMetric, group_pods

__all__ = [
    "INT32_MAX",
    "INT64_MAX",
    "MetricsUnavailable",
    "Proposal",
    "Tolerances",
    "external_replicas",
    "external_sum",
    "object_replicas",
    "per_pod_replicas",
    "plain_replicas",
    "ready_running_count",
    "resource_replicas",
]

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class MetricsUnavailable(PlatformError):
    """The metrics gave no replica count for this sync (no samples for the targeted pods, or
    a pod spec the metric cannot be computed for)."""


@dataclass(frozen=True)
class Tolerances:
    """How far the usage ratio may stray below / above 1.0 without a change (0.1 each by
    default, as --horizontal-pod-autoscaler-tolerance; per direction as spec.behavior's
    tolerance field sets them)."""

    scale_down: float = 0.1
    scale_up: float = 0.1

    def within(self, ratio: float) -> bool:
        return 1.0 - self.scale_down <= ratio <= 1.0 + self.scale_up


@dataclass(frozen=True)
class Proposal:
    """A replica count and the usage reported beside it (milli-units; for a Utilization
    target ``utilization`` is the percentage and ``usage`` the raw average)."""

    replicas: int
    usage: int
    utilization: int | None = None


def _rebalance(
    current: int,
    ratio: float,
    ready_count: int,
    unready: set[str],
    missing: set[str],
    tol: Tolerances,
    fill_missing_down: Mapping[str, int],
    usage_ratio_of: _RatioFn,
    metrics: dict[str, int],
) -> int:
    """The shared tail of the Pods and Resource calculations: missing samples count as the
    target on a scale-down and as 0 on a scale-up, unready pods as 0 on a scale-up; a change
    that then flips direction or falls inside the tolerance is dropped."""
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if tol.within(ratio):
            return current
        return math.ceil(ratio * ready_count)
    if missing:
        if ratio < 1.0:
            for name in missing:
                metrics[name] = fill_missing_down[name]
        elif ratio > 1.0:
            for name in missing:
                metrics[name] = 0
    if scale_up_with_unready:
        for name in unready:
            metrics[name] = 0
    new_ratio = usage_ratio_of(metrics)
    if tol.within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    proposed = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and proposed > current) or (new_ratio > 1.0 and proposed < current):
        return current
    return proposed


class _RatioFn:
    def __init__(self, target: int, requests: Mapping[str, int] | None = None) -> None:
        self.target = target
        self.requests = requests

    def __call__(self, metrics: Mapping[str, int]) -> float:
        if self.requests is None:
            return float(_plain_usage(metrics)) / float(self.target)
        return float(_utilization(metrics, self.requests)[0]) / float(self.target)


def _div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Go's."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _plain_usage(metrics: Mapping[str, int]) -> int:
    # GetMetricUsageRatio: the integer mean over every sample returned, pods listed or not.
    return _div(sum(metrics.values()), len(metrics))


def _utilization(metrics: Mapping[str, int], requests: Mapping[str, int]) -> tuple[int, int]:
    """(utilization percent, raw average): samples of pods without a request are extraneous."""
    total = requested = entries = 0
    for name, value in metrics.items():
        if name not in requests:
            continue
        total += value
        requested += requests[name]
        entries += 1
    if requested == 0:
        raise MetricsUnavailable("no metrics returned matched known pods")
    return _div(total * 100, requested), _div(total, entries)


def plain_replicas(
    current: int,
    metrics: Mapping[str, PodMetric],
    target: int,
    pods: Sequence[PodInfo],
    now: float,
    *,
    resource: str = "",
    tolerances: Tolerances = Tolerances(),
) -> Proposal:
    """Pods metric, or a Resource metric with an AverageValue target (calcPlainMetricReplicas)."""
    if not pods:
        raise MetricsUnavailable("no pods returned by selector while calculating replica count")
    g = group_pods(pods, metrics, resource, now)
    values = {n: m.value for n, m in metrics.items() if n not in g.ignored and n not in g.unready}
    if not values:
        raise MetricsUnavailable(
            "did not receive metrics for targeted pods (pods might be unready)"
        )
    usage = _plain_usage(values)
    ratio = float(usage) / float(target)
    fill = {n: target for n in g.missing}
    replicas = _rebalance(
        current, ratio, g.ready_count, g.unready, g.missing, tolerances, fill,
        _RatioFn(target), values,
    )  # fmt: skip
    return Proposal(replicas, usage)


def resource_replicas(
    current: int,
    metrics: Mapping[str, PodMetric],
    target_utilization: int,
    pods: Sequence[PodInfo],
    now: float,
    *,
    resource: str = "cpu",
    container: str = "",
    tolerances: Tolerances = Tolerances(),
) -> Proposal:
    """Resource metric with a Utilization target, as a percentage of the pods' requests
    (GetResourceReplicas). ``metrics`` holds each pod's usage of ``resource`` (of
    ``container`` alone when it is set), the requests come from the pod specs."""
    if not pods:
        raise MetricsUnavailable("no pods returned by selector while calculating replica count")
    g = group_pods(pods, metrics, resource, now)
    values = {n: m.value for n, m in metrics.items() if n not in g.ignored and n not in g.unready}
    if not values:
        raise MetricsUnavailable(
            "did not receive metrics for targeted pods (pods might be unready)"
        )
    requests = {p.name: _request(p, resource, container) for p in pods}
    utilization, raw = _utilization(values, requests)
    ratio = float(utilization) / float(target_utilization)
    fallback = max(100, target_utilization)
    fill = {n: _div(requests[n] * fallback, 100) for n in g.missing}
    replicas = _rebalance(
        current, ratio, g.ready_count, g.unready, g.missing, tolerances, fill,
        _RatioFn(target_utilization, requests), values,
    )  # fmt: skip
    return Proposal(replicas, raw, utilization)


def _request(pod: PodInfo, resource: str, container: str) -> int:
    total = 0
    for name, request in pod.requests:
        if container in ("", name):
            if request is None:
                raise MetricsUnavailable(
                    f"missing request for {resource} in container {name} of Pod {pod.name}"
                )
            total += request
        if container == name:
            return total
    if container:
        raise MetricsUnavailable(f"container {container} not found in Pod {pod.name}")
    return total


def ready_running_count(pods: Iterable[PodInfo]) -> int:
    """Pods Running and Ready: what Object and External Value targets scale by."""
    return sum(1 for p in pods if p.phase == "Running" and p.ready is True)


def _usage_ratio_replicas(
    current: int, ratio: float, pods: Sequence[PodInfo], tolerances: Tolerances
) -> int:
    """getUsageRatioReplicaCount: at 0 replicas the ratio alone, without tolerance."""
    if current == 0:
        return math.ceil(ratio)
    if tolerances.within(ratio):
        return current
    if not pods:
        raise MetricsUnavailable("no pods returned by selector while calculating replica count")
    wanted = ratio * ready_running_count(pods)
    return INT32_MAX if wanted > INT32_MAX else math.ceil(wanted)


def object_replicas(
    current: int,
    value: int,
    target: int,
    pods: Sequence[PodInfo],
    *,
    tolerances: Tolerances = Tolerances(),
) -> Proposal:
    """Object metric with a Value target (GetObjectMetricReplicas)."""
    return Proposal(
        _usage_ratio_replicas(current, float(value) / float(target), pods, tolerances), value
    )


def external_sum(samples: Iterable[int]) -> int:
    """The External metric's samples summed, capped at the int64 maximum."""
    total = 0
    for v in samples:
        if v > 0 and total > INT64_MAX - v:
            return INT64_MAX
        total += v
    return total


def external_replicas(
    current: int,
    samples: Sequence[int],
    target: int,
    pods: Sequence[PodInfo],
    *,
    tolerances: Tolerances = Tolerances(),
) -> Proposal:
    """External metric with a Value target (GetExternalMetricReplicas)."""
    usage = external_sum(samples)
    return Proposal(
        _usage_ratio_replicas(current, float(usage) / float(target), pods, tolerances), usage
    )


def per_pod_replicas(
    status_replicas: int,
    usage: int,
    target_per_pod: int,
    *,
    tolerances: Tolerances = Tolerances(),
) -> Proposal:
    """Object or External metric with an AverageValue target (GetObjectPerPodMetricReplicas,
    GetExternalPerPodMetricReplicas): the total over the pods the target has now
    (``status_replicas``, the scale subresource's status, Pending and unready pods included)."""
    replicas = status_replicas
    ratio = (
        float(usage) / (float(target_per_pod) * float(status_replicas))
        if status_replicas
        else math.inf
    )
    if not tolerances.within(ratio):
        wanted = math.ceil(float(usage) / float(target_per_pod))
        replicas = INT32_MAX if wanted > INT32_MAX else wanted
    if float(usage) >= float(INT64_MAX):
        return Proposal(replicas, INT64_MAX)
    per_pod = math.ceil(float(usage) / float(status_replicas)) if status_replicas else usage
    return Proposal(replicas, per_pod)
