"""Command lines and configuration files of the cluster's processes.

Each function returns the argv of one process and writes the files it reads. Nothing here
starts a process: ``harness.cluster.cluster`` does, inside the cluster's network namespace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.cluster.pki import Pki
from harness.cluster.settings import ClusterSettings, NodeSpec

__all__ = ["Binaries", "Layout", "Process", "control_plane", "node_pair", "node_processes"]

PAUSE_IMAGE = "msai.local/pause:1"
API_PORT = 6443
ETCD_PORT = 2379


@dataclass(frozen=True)
class Binaries:
    """Where the built executables are (``scripts/build-cluster``'s cache folders)."""

    kubernetes: Path
    etcd: Path

    def k8s(self, name: str) -> str:
        return str(self.kubernetes / name)


@dataclass(frozen=True)
class Layout:
    """The cluster's folder: PKI, kubeconfigs, data, logs, one folder a node."""

    home: Path
    #: Sockets and the kubelets' root folders (which hold sockets too) live here, not under
    #: ``home``: a Unix socket path holds at most 107 bytes.
    run: Path

    @property
    def pki(self) -> Path:
        return self.home / "pki"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.home / "kubeconfig"

    def kubeconfig(self, name: str) -> Path:
        return self.home / "kubeconfigs" / f"{name}.yaml"

    def node(self, node: NodeSpec) -> Path:
        return self.home / "nodes" / node.name

    def containerd_socket(self, node: NodeSpec, kind: str = "grpc") -> Path:
        return self.run / f"{node.name}.{kind}.sock"


@dataclass(frozen=True)
class Process:
    name: str
    argv: list[str]
    role: str


def control_plane(s: ClusterSettings, layout: Layout, bins: Binaries, pki: Pki) -> list[Process]:
    p = pki.path
    api = [
        bins.k8s("kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
        f"--bind-address={s.api_ip}",
        f"--advertise-address={s.api_ip}",
        f"--secure-port={API_PORT}",
        f"--service-cluster-ip-range={s.service_cidr}",
        f"--tls-cert-file={p('apiserver', 'crt')}",
        f"--tls-private-key-file={p('apiserver', 'key')}",
        f"--client-ca-file={p('ca', 'crt')}",
        f"--kubelet-client-certificate={p('apiserver-kubelet-client', 'crt')}",
        f"--kubelet-client-key={p('apiserver-kubelet-client', 'key')}",
        f"--service-account-key-file={p('sa', 'pub')}",
        f"--service-account-signing-key-file={p('sa', 'key')}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        "--profiling=false",
        # The aggregation layer (metrics-server, KEDA's metrics API) authenticates the API
        # server's proxied requests with this identity.
        f"--proxy-client-cert-file={p('front-proxy-client', 'crt')}",
        f"--proxy-client-key-file={p('front-proxy-client', 'key')}",
        f"--requestheader-client-ca-file={p('ca', 'crt')}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--enable-aggregator-routing=true",
        # Node names resolve nowhere; kubelets are reached at their InternalIP and own port.
        "--kubelet-preferred-address-types=InternalIP",
    ]
    etcd_dir = layout.home / "etcd"
    etcd = [
        str(bins.etcd / "etcd"),
        f"--data-dir={etcd_dir}",
        f"--listen-client-urls=http://127.0.0.1:{ETCD_PORT}",
        f"--advertise-client-urls=http://127.0.0.1:{ETCD_PORT}",
        "--listen-peer-urls=http://127.0.0.1:2380",
        "--initial-advertise-peer-urls=http://127.0.0.1:2380",
        "--initial-cluster=default=http://127.0.0.1:2380",
        "--listen-metrics-urls=http://127.0.0.1:2381",
        "--log-level=warn",
    ]
    cm_conf = layout.kubeconfig("kube-controller-manager")
    cm = [
        bins.k8s("kube-controller-manager"),
        f"--kubeconfig={cm_conf}",
        f"--authentication-kubeconfig={cm_conf}",
        f"--authorization-kubeconfig={cm_conf}",
        "--bind-address=127.0.0.1",
        f"--service-account-private-key-file={p('sa', 'key')}",
        f"--root-ca-file={p('ca', 'crt')}",
        f"--cluster-signing-cert-file={p('ca', 'crt')}",
        f"--cluster-signing-key-file={p('ca', 'key')}",
        "--use-service-account-credentials=true",
        f"--service-cluster-ip-range={s.service_cidr}",
        "--leader-elect=false",
        # The default HPA sync period and tolerance, stated so the local autoscaler can be
        # compared with this one.
        "--horizontal-pod-autoscaler-sync-period=15s",
        "--node-monitor-period=2s",
        "--node-monitor-grace-period=16s",
    ]
    sched_conf = layout.kubeconfig("kube-scheduler")
    sched = [
        bins.k8s("kube-scheduler"),
        f"--kubeconfig={sched_conf}",
        f"--authentication-kubeconfig={sched_conf}",
        f"--authorization-kubeconfig={sched_conf}",
        "--bind-address=127.0.0.1",
        "--leader-elect=false",
    ]
    return [
        Process("etcd", etcd, "etcd"),
        Process("kube-apiserver", api, "apiserver"),
        Process("kube-controller-manager", cm, "controller-manager"),
        Process("kube-scheduler", sched, "scheduler"),
    ]


def _containerd(layout: Layout, node: NodeSpec) -> Process:
    base = layout.node(node) / "containerd"
    cni = layout.node(node) / "cni"
    cni.mkdir(parents=True, exist_ok=True)
    (cni / "10-bridge.conflist").write_text(
        json.dumps(
            {
                "cniVersion": "0.4.0",
                "name": f"msai-{node.name}",
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": node.bridge,
                        "isGateway": True,
                        "ipMasq": True,
                        "hairpinMode": True,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{"subnet": node.pod_cidr}]],
                            "routes": [{"dst": "0.0.0.0/0"}],
                            "dataDir": str(layout.node(node) / "ipam"),
                        },
                    },
                    {"type": "portmap", "capabilities": {"portMappings": True}},
                ],
            },
            indent=2,
        )
    )
    conf = base / "config.toml"
    base.mkdir(parents=True, exist_ok=True)
    layout.run.mkdir(parents=True, exist_ok=True)
    # Each node has its own containerd (root, state, socket, cgroup parent), so kubelets never
    # see, or garbage-collect, each other's containers.
    conf.write_text(
        f"""version = 2
root = "{base / "root"}"
state = "{base / "state"}"
[grpc]
  address = "{layout.containerd_socket(node)}"
[ttrpc]
  address = "{layout.containerd_socket(node, "ttrpc")}"
[debug]
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  enable_cdi = false
  # Root here lacks CAP_SYS_RESOURCE, so no container may go below containerd's OOM score
  # (the kubelet asks -998 for sandboxes, which runc then fails to set).
  restrict_oom_score_adj = true
  # Pod network namespaces under this node's state folder, not /var/run/netns: `down` then
  # finds (and unmounts) every one of this cluster's and no other's.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "{base / "runc"}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
"""
    )
    return Process(f"containerd-{node.name}", ["containerd", "--config", str(conf)], "containerd")


def _kubelet(s: ClusterSettings, layout: Layout, bins: Binaries, node: NodeSpec) -> Process:
    base = layout.node(node) / "kubelet"
    base.mkdir(parents=True, exist_ok=True)
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": s.api_ip,
        "port": node.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": node.healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(layout.pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        # Each kubelet keeps its pods under its own cgroup root on this shared host.
        "cgroupRoot": "/" + s.cgroup_root(node.name),
        "failSwapOn": False,
        "failCgroupV1": False,
        "clusterDomain": "cluster.local",
        "clusterDNS": [s.dns_service_ip],
        "resolvConf": str(_resolv_conf(layout)),
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket(node)}",
        "podCIDR": node.pod_cidr,
        # Each kubelet garbage-collects the log folders of pods it does not run: one folder a
        # node, or the kubelets delete each other's pod logs.
        "podLogsDir": str(layout.node(node) / "pod-logs"),
        "maxPods": 60,
        # A short node lease, so a stopped node (a spot reclaim) reads NotReady within
        # seconds; the controller manager's grace period below matches it.
        "nodeLeaseDurationSeconds": 8,
        "nodeStatusUpdateFrequency": "2s",
        "serializeImagePulls": False,
        # Disk pressure on a shared developer machine must not evict the stack.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%"},
        "imageGCHighThresholdPercent": 100,
        "localStorageCapacityIsolation": False,
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": True,
    }
    conf = base / "config.yaml"
    conf.write_text(yaml.safe_dump(config, sort_keys=False))
    labels = ",".join(f"{k}={v}" for k, v in sorted(node.labels.items()))
    taints = ",".join(f"{t['key']}={t.get('value', '')}:{t['effect']}" for t in node.taints)
    argv = [
        bins.k8s("kubelet"),
        f"--config={conf}",
        f"--kubeconfig={layout.kubeconfig('kubelet-' + node.name)}",
        f"--root-dir={layout.run / node.name}",
        f"--hostname-override={node.name}",
        f"--node-ip={s.api_ip}",
        f"--node-labels={labels}",
        *([f"--register-with-taints={taints}"] if taints else []),
        f"--cert-dir={base / 'pki'}",
        "--v=1",
    ]
    return Process(f"kubelet-{node.name}", argv, "kubelet")


def _resolv_conf(layout: Layout) -> Path:
    # Pods resolve through cluster DNS; this host's own resolver is no use inside the namespace.
    path = layout.home / "resolv.conf"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("nameserver 127.0.0.1\n")
    return path


def node_pair(s: ClusterSettings, layout: Layout, bins: Binaries, node: NodeSpec) -> list[Process]:
    """The node's containerd, then its kubelet (the order they start in)."""
    return [_containerd(layout, node), _kubelet(s, layout, bins, node)]


def node_processes(
    s: ClusterSettings, layout: Layout, bins: Binaries, nodes: list[NodeSpec]
) -> list[Process]:
    procs = [p for node in nodes for p in node_pair(s, layout, bins, node)]
    # One kube-proxy serves every node: they share the namespace, hence one iptables.
    proxy_conf = layout.home / "kube-proxy.yaml"
    proxy_conf.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                "kind": "KubeProxyConfiguration",
                "mode": "iptables",
                "clusterCIDR": s.pod_cidr,
                "clientConnection": {"kubeconfig": str(layout.kubeconfig("kube-proxy"))},
                "hostnameOverride": nodes[0].name,
                "metricsBindAddress": "127.0.0.1:10249",
                "healthzBindAddress": "127.0.0.1:10256",
                "conntrack": {"maxPerCore": 0},
            },
            sort_keys=False,
        )
    )
    procs.append(
        Process("kube-proxy", [bins.k8s("kube-proxy"), f"--config={proxy_conf}"], "kube-proxy")
    )
    return procs
