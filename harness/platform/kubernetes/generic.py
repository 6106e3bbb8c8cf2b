"""``--platform k8s``: any allow-listed kube context, ``msai cluster``'s own included.

The context is ``MSAI_K8S_CONTEXT`` or the kubeconfig's current one, and it must match
``MSAI_K8S_ALLOWED_CONTEXTS`` (default: the context ``msai cluster up`` writes): faults meant
for a test cluster never reach one that is not named. On ``msai cluster``, spot
interruptions stop the node's kubelet and containerd after the notice.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from pathlib import Path

import yaml

from harness.cluster import CONTEXT, Cluster, cluster_settings
from harness.errors import ConfigError, GuardViolation
from harness.platform.kubernetes.settings import KubernetesSettings
from harness.platform.kubernetes.spot import NodeStopSpot

__all__ = ["ClusterPower", "checked_k8s_context", "k8s_target"]


def _current_context(settings: KubernetesSettings) -> str:
    path = settings.kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    path = path or str(Path.home() / ".kube" / "config")
    try:
        config = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"no kube context: {exc} (set MSAI_K8S_KUBECONFIG or KUBECONFIG; "
            "`msai cluster up` prints one)",
            field="MSAI_K8S_CONTEXT",
        ) from exc
    current = config.get("current-context") if isinstance(config, dict) else None
    if not current:
        raise ConfigError(f"{path} names no current-context", field="MSAI_K8S_CONTEXT")
    return str(current)


def checked_k8s_context(settings: KubernetesSettings) -> str:
    ctx = settings.context or _current_context(settings)
    if any(fnmatch.fnmatchcase(ctx, pattern) for pattern in settings.allowed_contexts):
        return ctx
    raise GuardViolation(
        f"kube context {ctx!r} is not allow-listed for --platform k8s "
        f"(MSAI_K8S_ALLOWED_CONTEXTS={','.join(settings.allowed_contexts) or '<empty>'})"
    )


def k8s_target(settings: KubernetesSettings) -> tuple[KubernetesSettings, NodeStopSpot | None]:
    """The settings pinned to the checked context, and the spot backend where there is one.
    With no kubeconfig named, ``msai cluster``'s is used when it exists."""
    if not settings.kubeconfig and not os.environ.get("KUBECONFIG"):
        own = Cluster(cluster_settings()).kubeconfig
        if own.exists():
            settings = dataclasses.replace(settings, kubeconfig=str(own))
    ctx = checked_k8s_context(settings)
    settings = dataclasses.replace(settings, context=ctx)
    spot = NodeStopSpot(ClusterPower(Cluster(cluster_settings()))) if ctx == CONTEXT else None
    return settings, spot


class ClusterPower:
    """A node of ``msai cluster`` is its kubelet and containerd processes."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def stop(self, node: str) -> None:
        self.cluster.stop_node(node)

    def start(self, node: str) -> None:
        self.cluster.start_node(node)
