"""Settings of the local Kubernetes cluster (``MSAI_CLUSTER_*``)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from modelserve.common.settings import env_field, load_settings

from harness.errors import ConfigError
from harness.settings import settings as harness_settings
from harness.values import load_stack

__all__ = ["ClusterSettings", "NodeSpec", "cluster_settings"]


@dataclass(frozen=True)
class NodeSpec:
    """One kubelet: the chart's node (name, labels, taints), its pod subnet and its ports (all
    nodes share the cluster's network namespace, so each kubelet listens on its own ports)."""

    name: str
    index: int
    pod_cidr: str
    labels: dict[str, str]
    taints: tuple[dict[str, str], ...]

    @property
    def kubelet_port(self) -> int:
        return 10250 + 10 * self.index

    @property
    def healthz_port(self) -> int:
        return 10248 + 10 * self.index

    @property
    def bridge(self) -> str:
        return f"msai-cni{self.index}"


@dataclass(frozen=True)
class ClusterSettings:
    home: str = env_field("", "state folder: PKI, etcd data, logs (default <MSAI_HOME>/cluster)")
    k8s_version: str = env_field("v1.34.4", "Kubernetes release built from its Go module")
    etcd_version: str = env_field("v3.6.4", "etcd release built from its Go module")
    helm_version: str = env_field("v3.19.5", "helm release built from its Go module")
    cache_dir: str = env_field(
        "", "where built binaries are cached by version (default ~/.cache/msai/cluster)"
    )
    netns: str = env_field(
        "msai-cluster",
        "network namespace holding the whole cluster (its iptables, bridges and pods)",
    )
    host_cidr: str = env_field(
        "10.200.0.0/30",
        "veth link between this host and the cluster's namespace: .1 host, .2 the API server",
    )
    pod_cidr: str = env_field("10.244.0.0/16", "pod addresses; node N gets the /24 number N")
    service_cidr: str = env_field("10.96.0.0/16", "ClusterIP range")
    nodes: list[str] = env_field(
        [], "which of the chart's nodes (values.yaml `nodes`) get a kubelet; empty = all"
    )
    ready_timeout_s: float = env_field(180.0, "how long `up` waits for every node (seconds)")

    def validate(self) -> None:
        for name, value in (
            ("HOST_CIDR", self.host_cidr),
            ("POD_CIDR", self.pod_cidr),
            ("SERVICE_CIDR", self.service_cidr),
        ):
            try:
                ipaddress.ip_network(value)
            except ValueError as exc:
                raise ConfigError(f"MSAI_CLUSTER_{name}={value!r}: {exc}") from exc

    @property
    def home_path(self) -> Path:
        return Path(self.home) if self.home else harness_settings().home_path / "cluster"

    @property
    def cache_path(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir)
        return Path.home() / ".cache" / "msai" / "cluster"

    @property
    def host_ip(self) -> str:
        return str(ipaddress.ip_network(self.host_cidr)[1])

    @property
    def api_ip(self) -> str:
        return str(ipaddress.ip_network(self.host_cidr)[2])

    @property
    def api_service_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr)[1])

    @property
    def dns_service_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr)[10])

    def cgroup_root(self, node: str) -> str:
        """The node's kubelet keeps its pods under this cgroup (one a namespace and node, so
        two clusters on one machine never share one)."""
        return f"{self.netns}-{node}"

    def node_specs(self) -> list[NodeSpec]:
        """The chart's nodes (``values.yaml``), each with the next /24 of the pod range."""
        chart_nodes = load_stack().nodes
        unknown = sorted(set(self.nodes) - {n.name for n in chart_nodes})
        if unknown:
            raise ConfigError(
                f"MSAI_CLUSTER_NODES: {', '.join(unknown)} not among the chart's nodes "
                f"({', '.join(n.name for n in chart_nodes)})"
            )
        chosen = [n for n in chart_nodes if not self.nodes or n.name in self.nodes]
        subnets = ipaddress.ip_network(self.pod_cidr).subnets(new_prefix=24)
        return [
            NodeSpec(n.name, i, str(next(subnets)), dict(n.labels), n.taints)
            for i, n in enumerate(chosen)
        ]


def cluster_settings() -> ClusterSettings:
    return load_settings(ClusterSettings, prefix="MSAI_CLUSTER_")
