"""Pods as the HPA sees them, and how it sorts them before a replica count is computed.

kube-controller-manager's ``groupPods`` puts every pod of the scale target in one of four
groups, per metric type:

- ignored: being deleted (a deletion timestamp) or phase Failed; their samples are dropped;
- unready: phase Pending; for the CPU resource metric also pods that are not Ready, and pods
  still in the CPU initialization period whose sample predates one metric window after their
  last readiness change (readiness matters for CPU only, because a starting process burns CPU
  that says nothing about load);
- missing: no sample from the metrics API;
- ready: the rest (these are counted).

How a local replica maps to a pod phase (:func:`replica_pods`):

- a replica process that was spawned and has not been told to stop is Running, Ready when its
  readiness probe answers 200 (as a container is Running from its start, while the model loads);
- a replica being evicted or terminated has a deletion timestamp (ignored);
- a desired replica the controller could not place on a node is Pending (unschedulable);
- a desired replica waiting out its crash back-off is Running and not Ready, as a
  CrashLoopBackOff container restarts inside the same pod; Failed does not occur, since a
  Deployment's pods restart in place (restartPolicy Always).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = [
    "CPU_INITIALIZATION_PERIOD_S",
    "DELAY_OF_INITIAL_READINESS_S",
    "PodGroups",
    "PodInfo",
    "PodMetric",
    "PodPhase",
    "ReplicaView",
    "group_pods",
    "replica_pods",
    "status_replicas",
]

PodPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]

# kube-controller-manager's defaults (--horizontal-pod-autoscaler-cpu-initialization-period,
# --horizontal-pod-autoscaler-initial-readiness-delay), in seconds.
CPU_INITIALIZATION_PERIOD_S = 300.0
DELAY_OF_INITIAL_READINESS_S = 30.0


@dataclass(frozen=True)
class PodMetric:
    """One pod's sample: ``value`` in milli-units (as resource.Quantity.MilliValue()),
    ``timestamp`` and ``window_s`` as the metrics API reports them (seconds)."""

    value: int
    timestamp: float = 0.0
    window_s: float = 60.0


@dataclass(frozen=True)
class PodInfo:
    """The pod fields the HPA reads. Times are seconds on one clock; ``ready`` None means the
    pod has no Ready condition, ``start_time`` None no status.startTime. ``requests`` holds
    each container's request of the scaled resource in milli-units (None: not set)."""

    name: str
    phase: PodPhase = "Running"
    ready: bool | None = True
    deleting: bool = False
    start_time: float | None = 0.0
    ready_transition: float = 0.0
    requests: tuple[tuple[str, int | None], ...] = ()


@dataclass
class PodGroups:
    ready_count: int = 0
    unready: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    ignored: set[str] = field(default_factory=set)


def group_pods(
    pods: Iterable[PodInfo],
    metrics: Mapping[str, PodMetric],
    resource: str,
    now: float,
    *,
    cpu_initialization_period_s: float = CPU_INITIALIZATION_PERIOD_S,
    delay_of_initial_readiness_s: float = DELAY_OF_INITIAL_READINESS_S,
) -> PodGroups:
    """Sort ``pods`` for one metric; ``resource`` is "cpu", "memory" or "" (not a resource)."""
    g = PodGroups()
    for pod in pods:
        if pod.deleting or pod.phase == "Failed":
            g.ignored.add(pod.name)
            continue
        if pod.phase == "Pending":
            g.unready.add(pod.name)
            continue
        metric = metrics.get(pod.name)
        if metric is None:
            g.missing.add(pod.name)
            continue
        if resource == "cpu" and _cpu_unready(
            pod, metric, now, cpu_initialization_period_s, delay_of_initial_readiness_s
        ):
            g.unready.add(pod.name)
            continue
        g.ready_count += 1
    return g


def _cpu_unready(
    pod: PodInfo, metric: PodMetric, now: float, init_period_s: float, delay_s: float
) -> bool:
    if pod.ready is None or pod.start_time is None:
        return True
    if pod.start_time + init_period_s > now:
        # Still initializing: the sample counts once one full window follows the last
        # readiness change, so start-up CPU is not taken for load.
        return not pod.ready or metric.timestamp < pod.ready_transition + metric.window_s
    # Afterwards only a pod that has never been Ready is left out.
    return not pod.ready and pod.start_time + delay_s > pod.ready_transition


class ReplicaView(Protocol):
    """What :func:`replica_pods` reads of one local replica."""

    @property
    def name(self) -> str: ...
    @property
    def phase(self) -> str: ...  # running | evicting | terminating
    @property
    def ready(self) -> bool: ...
    @property
    def started(self) -> float: ...
    @property
    def ready_at(self) -> float | None: ...


def replica_pods(
    replicas: Iterable[ReplicaView], desired: int, *, service: str, crash_backoff: bool
) -> list[PodInfo]:
    """The pods a Deployment of ``desired`` replicas would list for these local replicas.

    Desired replicas without a process are listed too: Running and not Ready while the
    controller waits out a crash back-off (``crash_backoff``), else Pending (no node fits)."""
    pods: list[PodInfo] = []
    live = 0
    for r in replicas:
        if r.phase == "running":
            live += 1
            transition = r.ready_at if r.ready_at is not None else r.started
            pods.append(PodInfo(r.name, "Running", r.ready, False, r.started, transition))
        else:
            pods.append(PodInfo(r.name, "Running", r.ready, True, r.started, r.started))
    for i in range(max(desired - live, 0)):
        if crash_backoff:
            pods.append(PodInfo(f"{service}-restarting-{i}", "Running", False))
        else:
            pods.append(PodInfo(f"{service}-unschedulable-{i}", "Pending", False, start_time=None))
    return pods


def status_replicas(pods: Iterable[PodInfo]) -> int:
    """The scale subresource's status.replicas: the target's pods not being deleted and not
    finished (Pending and unready ones included)."""
    return sum(1 for p in pods if not p.deleting and p.phase not in ("Failed", "Succeeded"))
