"""``msai cluster up|down|status``: a real Kubernetes cluster on this machine.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler run as processes, and one
kubelet a chart node (values.yaml ``nodes``: labels and taints included), each with its own
containerd; kube-proxy programs the namespace's iptables. Every process runs inside the
cluster's network namespace (``harness.cluster.network``) and is written to a process ledger,
so ``down`` (or the next ``up`` after a crash) stops exactly what was started.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from harness.cluster.api import ApiClient
from harness.cluster.components import (
    API_PORT,
    PAUSE_IMAGE,
    Binaries,
    Layout,
    Process,
    control_plane,
    node_pair,
    node_processes,
)
from harness.cluster.images import import_image, pause_archive
from harness.cluster.network import in_netns, netns_down, netns_up
from harness.cluster.pki import Pki, write_kubeconfig
from harness.cluster.settings import ClusterSettings, NodeSpec
from harness.errors import MissingBinary, PlatformError
from harness.settings import project_root
from harness.supervisor import (
    Ledger,
    Supervised,
    alive,
    cleanup,
    spawn,
    stop_entry,
)

__all__ = ["CONTEXT", "Cluster", "host_tools_missing"]

#: The kube context ``up`` writes; the Kubernetes platform's allow-list names it.
CONTEXT = "msai-local"

# (command, Debian package) this machine needs beside the built binaries.
_HOST_TOOLS = (
    ("containerd", "containerd"),
    ("ctr", "containerd"),
    ("runc", "runc"),
    ("iptables", "iptables"),
    ("conntrack", "conntrack"),
    ("ip", "iproute2"),
    ("busybox", "busybox-static"),
)


def host_tools_missing() -> list[str]:
    """Debian packages whose commands are missing here (the CNI plugins included)."""
    missing = {pkg for cmd, pkg in _HOST_TOOLS if shutil.which(cmd) is None}
    if not Path("/usr/lib/cni/bridge").exists():
        missing.add("containernetworking-plugins")
    return sorted(missing)


_CGROUP_FS = Path("/sys/fs/cgroup")


def _make_cgroup_root(name: str) -> None:
    """The kubelet's ``cgroupRoot`` under every cgroup v1 hierarchy; the kubelet refuses a root
    that is missing from any of them. A new cpuset starts with no CPUs or memory nodes, so it
    takes its parent's."""
    for hierarchy in _CGROUP_FS.iterdir():
        if hierarchy.name == "unified" or not (hierarchy / "cgroup.procs").exists():
            continue
        path = hierarchy / name
        path.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":
            for knob in ("cpuset.cpus", "cpuset.mems"):
                (path / knob).write_text((hierarchy / knob).read_text())


def _answers(path: Path) -> bool:
    """Whether a process accepts connections on the Unix socket (a killed containerd leaves
    its socket file behind, so the file alone says nothing)."""
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


class Cluster:
    def __init__(self, settings: ClusterSettings, say: Callable[[str], None] = print) -> None:
        self.s = settings
        self.layout = Layout(settings.home_path, Path("/run/msai") / settings.netns)
        self.pki = Pki(self.layout.pki)
        self.ledger = Ledger(self.layout.home / "ledger.json")
        self.say = say
        self.server = f"https://{settings.api_ip}:{API_PORT}"
        # Processes started by this object: held so they are reaped here, not garbage-collected
        # while running (the ledger is what stops them, from this process or a later one).
        self._started: list[Supervised] = []

    # -- binaries ----------------------------------------------------------------------------
    def binaries(self, *, build: bool) -> Binaries:
        cache = self.s.cache_path
        bins = Binaries(
            kubernetes=cache / f"kubernetes-{self.s.k8s_version}" / "bin",
            etcd=cache / f"etcd-{self.s.etcd_version}" / "bin",
        )
        complete = all((p.parent / ".complete").exists() for p in (bins.kubernetes, bins.etcd))
        if complete:
            return bins
        if not build:
            raise MissingBinary(
                f"Kubernetes {self.s.k8s_version} / etcd {self.s.etcd_version} in {cache}",
                "scripts/build-cluster (from their Go modules)",
                "msai cluster up builds them",
            )
        script = project_root() / "scripts" / "build-cluster"
        env = {
            **os.environ,
            "MSAI_K8S_VERSION": self.s.k8s_version,
            "MSAI_ETCD_VERSION": self.s.etcd_version,
            "MSAI_CACHE_DIR": str(cache.parent),
        }
        self.say(
            f"building Kubernetes {self.s.k8s_version} and etcd {self.s.etcd_version} "
            "from their Go modules (first time on this machine: several minutes)"
        )
        t0 = time.monotonic()
        if subprocess.run([str(script)], env=env, check=False).returncode != 0:
            raise PlatformError(f"{script} failed (its output is above)")
        self.say(f"built in {time.monotonic() - t0:.0f} s, cached in {cache}")
        return bins

    # -- up ----------------------------------------------------------------------------------
    def up(self) -> dict[str, Any]:
        missing = host_tools_missing()
        if missing:
            raise MissingBinary(
                "the cluster's host tools",
                "Debian packages " + " ".join(missing),
                "scripts/setup --cluster",
            )
        t0 = time.monotonic()
        bins = self.binaries(build=True)
        self._stop_leftovers()
        nodes = self.s.node_specs()
        self._make_pki(nodes)
        netns_up(self.s)
        for proc in control_plane(self.s, self.layout, bins, self.pki):
            self._start(proc)
            if proc.role == "apiserver":
                self._wait("the API server", self.api().ready, 60)
        for proc in node_processes(self.s, self.layout, bins, nodes):
            if proc.role == "kubelet":
                node = next(n for n in nodes if f"kubelet-{n.name}" == proc.name)
                self._import_pause(node)
                _make_cgroup_root(self.s.cgroup_root(node.name))
            self._start(proc)
        self._wait(
            f"{len(nodes)} nodes Ready",
            lambda: self._ready_nodes() >= len(nodes),
            self.s.ready_timeout_s,
        )
        self._wait(
            "the default service account",
            lambda: self.api().exists("/api/v1/namespaces/default/serviceaccounts/default"),
            60,
        )
        self.say(f"cluster up in {time.monotonic() - t0:.0f} s; KUBECONFIG={self.kubeconfig}")
        return self.status()

    def _make_pki(self, nodes: list[NodeSpec]) -> None:
        pki = self.pki
        pki.ensure_ca()
        pki.ensure_service_account_key()
        pki.ensure_cert(
            "apiserver",
            user="kube-apiserver",
            dns=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ips=(self.s.api_ip, self.s.api_service_ip, "127.0.0.1"),
            server=True,
        )
        pki.ensure_cert("admin", user="msai-admin", groups=("system:masters",))
        pki.ensure_cert(
            "apiserver-kubelet-client",
            user="kube-apiserver-kubelet-client",
            groups=("system:masters",),
        )
        pki.ensure_cert("front-proxy-client", user="front-proxy-client")
        identities: dict[str, tuple[str, tuple[str, ...]]] = {
            "kube-controller-manager": ("system:kube-controller-manager", ()),
            "kube-scheduler": ("system:kube-scheduler", ()),
            "kube-proxy": ("system:kube-proxy", ()),
        }
        for node in nodes:
            identities[f"kubelet-{node.name}"] = (f"system:node:{node.name}", ("system:nodes",))
        for name, (user, groups) in identities.items():
            pki.ensure_cert(name, user=user, groups=groups)
            write_kubeconfig(
                self.layout.kubeconfig(name),
                pki=pki,
                name=name,
                server=self.server,
                context=CONTEXT,
            )
        write_kubeconfig(
            self.kubeconfig, pki=pki, name="admin", server=self.server, context=CONTEXT
        )

    def _import_pause(self, node: NodeSpec) -> None:
        archive = pause_archive(self.layout.home / "images" / "pause.tar", PAUSE_IMAGE)
        socket = self.layout.containerd_socket(node)
        self._wait(f"containerd of {node.name}", lambda: _answers(socket), 30)
        import_image(socket, archive, PAUSE_IMAGE)

    def _start(self, proc: Process) -> None:
        self.say(f"starting {proc.name}")
        started = spawn(
            self.ledger,
            proc.name,
            in_netns(self.s, proc.argv),
            log=self.layout.logs / f"{proc.name}.log",
            role=proc.role,
        )
        self._started.append(started)

    def _wait(self, what: str, ok: Callable[[], bool], timeout_s: float) -> None:
        t0 = time.monotonic()
        last_said = t0
        while not ok():
            self._check_alive()
            now = time.monotonic()
            if now - t0 > timeout_s:
                raise PlatformError(
                    f"cluster: {what} not reached within {timeout_s:.0f} s "
                    f"(logs in {self.layout.logs})"
                )
            if now - last_said >= 10:
                self.say(f"waiting for {what} ({now - t0:.0f} s)")
                last_said = now
            time.sleep(0.5)

    def _check_alive(self) -> None:
        for e in self.ledger.entries():
            if not alive(e):
                tail = Path(e.log).read_text(errors="replace").splitlines()[-3:]
                raise PlatformError(
                    f"cluster: {e.name} exited while starting; the end of {e.log}:\n"
                    + "\n".join(line[:400] for line in tail)
                )

    # -- status / down -----------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.layout.admin_kubeconfig

    def api(self) -> ApiClient:
        return ApiClient(self.server, self.pki)

    def _ready_nodes(self) -> int:
        try:
            return sum(1 for n in self.api().nodes() if n["ready"])
        except OSError:
            return 0

    def status(self) -> dict[str, Any]:
        running = {e.name: psutil.pid_exists(e.pid) for e in self.ledger.entries()}
        nodes: list[dict[str, Any]] = []
        reachable = bool(running) and self.api().ready()
        if reachable:
            nodes = [
                {k: n[k] for k in ("name", "ready", "unschedulable", "labels", "taints")}
                for n in self.api().nodes()
            ]
        return {
            "up": reachable,
            "kubeconfig": str(self.kubeconfig),
            "context": CONTEXT,
            "server": self.server,
            "kubernetes": self.s.k8s_version,
            "etcd": self.s.etcd_version,
            "processes": running,
            "nodes": nodes,
        }

    def down(self) -> list[str]:
        """Stop every process, the pods' containers, their mounts and cgroups, the namespace."""
        stopped = self._stop_leftovers()
        netns_down(self.s)
        shutil.rmtree(self.layout.run, ignore_errors=True)
        return stopped

    def _stop_leftovers(self) -> list[str]:
        """Stop what the ledger names (a crashed ``up`` included); returns the live ones."""
        entries = self.ledger.entries()
        live = [e.name for e in entries if alive(e)]
        # Kubelets first, so none restarts a container while the rest goes.
        for e in entries:
            if e.role == "kubelet":
                stop_entry(e, grace_s=5.0)
                self.ledger.remove(e)
        self._kill_pods()
        cleanup(self.ledger, grace_s=5.0)
        for proc in self._started:  # reap them: each was signalled above
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)
        self._started.clear()
        self._unmount()
        return live

    # -- a node's machine (spot interruptions) ------------------------------------------------
    def stop_node(self, name: str) -> None:
        """Stop a node as a reclaimed instance stops: its kubelet, its containers, its
        containerd; the API server then sees the node go NotReady."""
        node = self._node(name)
        for e in self.ledger.entries():
            if e.name in (f"kubelet-{name}", f"containerd-{name}"):
                stop_entry(e, sig=signal.SIGKILL, grace_s=2.0)
                self.ledger.remove(e)
        self._kill_pods(only=node)

    def start_node(self, name: str) -> None:
        """Start a stopped node's containerd and kubelet again (idempotent)."""
        node = self._node(name)
        running = {e.name for e in self.ledger.entries() if alive(e)}
        bins = self.binaries(build=False)
        for proc in node_pair(self.s, self.layout, bins, node):
            if proc.name in running:
                continue
            if proc.role == "kubelet":
                _make_cgroup_root(self.s.cgroup_root(node.name))
            self._start(proc)
            if proc.role == "containerd":
                sock = self.layout.containerd_socket(node)
                self._wait(f"containerd of {name}", functools.partial(_answers, sock), 30)

    def _node(self, name: str) -> NodeSpec:
        for node in self.s.node_specs():
            if node.name == name:
                return node
        raise PlatformError(f"cluster: no node {name!r}")

    def _kill_pods(self, only: NodeSpec | None = None) -> None:
        """Containers and their shims outlive containerd: stop what runs under this cluster.
        Any process whose command line names this cluster's folders goes too, so a lost or
        damaged ledger leaves nothing running."""
        mine: tuple[str, ...] = (str(self.layout.home) + "/", str(self.layout.run) + "/")
        if only is not None:  # that node's shims name its socket
            mine = (str(self.layout.containerd_socket(only)),)
        for p in psutil.process_iter(["cmdline"]):
            cmd = p.info.get("cmdline") or []
            if p.pid != os.getpid() and any(m in c for c in cmd for m in mine):
                with contextlib.suppress(psutil.Error):
                    for child in p.children(recursive=True):
                        child.kill()
                    p.kill()
        names = [only.name] if only else [d.name for d in (self.layout.home / "nodes").glob("*")]
        for node_name in names:
            for hierarchy in _CGROUP_FS.iterdir():
                root = hierarchy / self.s.cgroup_root(node_name)
                for procs in sorted(root.rglob("cgroup.procs"), reverse=True):
                    with contextlib.suppress(OSError, ValueError):
                        for pid in procs.read_text().split():
                            os.kill(int(pid), 9)
                for sub in sorted((d for d in root.rglob("*") if d.is_dir()), reverse=True):
                    with contextlib.suppress(OSError):
                        sub.rmdir()
                with contextlib.suppress(OSError):
                    root.rmdir()

    def _unmount(self) -> None:
        mine = (str(self.layout.home) + "/", str(self.layout.run) + "/")
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(mine)), reverse=True):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)

    def status_json(self) -> str:
        return json.dumps(self.status(), indent=2)
