"""A real Kubernetes cluster on this machine: control plane, kubelets with containerd,
kube-proxy, all inside one network namespace (``msai cluster up|down|status``)."""

from harness.cluster.cluster import CONTEXT, Cluster
from harness.cluster.settings import ClusterSettings, cluster_settings

__all__ = ["CONTEXT", "Cluster", "ClusterSettings", "cluster_settings"]
