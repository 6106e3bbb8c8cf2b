"""The cluster's network namespace: every address of the cluster lives inside it.

The control plane, the kubelets, their containerd instances and the pods all run in one
network namespace made here, joined to this host by one veth pair (host side ``.1``, API server
``.2`` of ``MSAI_CLUSTER_HOST_CIDR``). kube-proxy's iptables rules, the CNI bridges and the pod
addresses therefore stay inside the namespace, and deleting it removes all of them at once.
"""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
import subprocess
from collections.abc import Sequence

from harness.cluster.settings import ClusterSettings
from harness.errors import MissingBinary, PlatformError

__all__ = ["in_netns", "netns_down", "netns_exists", "netns_up"]

# Sysctls the kubelet, kube-proxy and the bridge CNI need inside the namespace.
_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.ipv4.conf.all.route_localnet": "1",
}


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    if shutil.which("ip") is None:
        raise MissingBinary("ip", "Debian package iproute2", "apt-get install iproute2")
    out = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise PlatformError(f"ip {' '.join(args)}: {out.stderr.strip()}")
    return out


def in_netns(settings: ClusterSettings, cmd: Sequence[str]) -> list[str]:
    """``cmd`` run inside the cluster's network namespace. nsenter, not ``ip netns exec``: the
    latter also gives the command a mount namespace with a fresh /sys, which hides the cgroup
    hierarchies the kubelet and containerd manage."""
    return ["nsenter", f"--net=/var/run/netns/{settings.netns}", "--", *cmd]


def netns_exists(settings: ClusterSettings) -> bool:
    return settings.netns in _ip("netns", "list").stdout.split()


def _host_link(settings: ClusterSettings) -> str:
    # Interface names hold 15 bytes; a digest keeps two namespaces' links apart.
    return "msai-" + hashlib.sha1(settings.netns.encode()).hexdigest()[:8]


def netns_up(settings: ClusterSettings) -> None:
    """Make the namespace and its link to the host; idempotent."""
    ns = settings.netns
    if not netns_exists(settings):
        _ip("netns", "add", ns)
    prefix = ipaddress.ip_network(settings.host_cidr).prefixlen
    host_link = _host_link(settings)
    if _ip("link", "show", host_link, check=False).returncode != 0:
        _ip("link", "add", host_link, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("addr", "add", f"{settings.host_ip}/{prefix}", "dev", host_link)
        _ip("link", "set", host_link, "up")
        _ip("-n", ns, "addr", "add", f"{settings.api_ip}/{prefix}", "dev", "eth0")
    _ip("-n", ns, "link", "set", "lo", "up")
    _ip("-n", ns, "link", "set", "eth0", "up")
    # Pods reach this host's side of the link only; nothing leaves the machine through it.
    _ip("-n", ns, "route", "replace", "default", "via", settings.host_ip, "dev", "eth0")
    for key, value in _SYSCTLS.items():
        out = subprocess.run(
            ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"{key}={value}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise PlatformError(f"sysctl {key}={value} in {ns}: {out.stderr.strip()}")


def netns_down(settings: ClusterSettings) -> None:
    """Delete the namespace (its bridges, pod links and iptables rules go with it)."""
    _ip("link", "del", _host_link(settings), check=False)
    if netns_exists(settings):
        _ip("netns", "del", settings.netns)
