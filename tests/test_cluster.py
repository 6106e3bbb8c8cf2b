"""The local Kubernetes cluster (``msai cluster``): its parts offline, then a real cluster.

The end-to-end test starts etcd, the control plane, one kubelet with its own containerd for
each chart node and kube-proxy, inside a network namespace of its own (so a developer's
running cluster is untouched), runs a Deployment across the nodes, reaches it through a
ClusterIP Service, drains the spot node through the eviction API and checks that ``down``
leaves no process, mount, cgroup or namespace behind.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from harness.cluster.cluster import Cluster, host_tools_missing
from harness.cluster.components import Binaries, Layout, control_plane, node_processes
from harness.cluster.images import oci_archive
from harness.cluster.pki import Pki
from harness.cluster.settings import ClusterSettings, cluster_settings
from harness.errors import ConfigError


def _settings(tmp_path: Path, **over: object) -> ClusterSettings:
    base = {
        "home": str(tmp_path / "cluster"),
        "netns": "msai-test-cl",
        "host_cidr": "10.200.0.4/30",
    }
    base.update(over)
    return ClusterSettings(**base)  # type: ignore[arg-type]


def test_nodes_come_from_the_chart_values(tmp_path: Path) -> None:
    nodes = _settings(tmp_path).node_specs()
    assert [n.name for n in nodes] == ["general-a", "general-b", "spot-a"]
    spot = nodes[2]
    assert spot.labels["capacity-type"] == "spot"
    assert spot.taints == ({"key": "spot", "value": "true", "effect": "NoSchedule"},)
    assert len({n.pod_cidr for n in nodes}) == 3
    assert len({n.kubelet_port for n in nodes} | {n.healthz_port for n in nodes}) == 6


def test_unknown_node_and_bad_cidr_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope not among the chart's nodes"):
        _settings(tmp_path, nodes=["nope"]).node_specs()
    with pytest.raises(ConfigError, match="MSAI_CLUSTER_POD_CIDR"):
        _settings(tmp_path, pod_cidr="10.244.0.0/33").validate()
    os.environ["MSAI_CLUSTER_NODES"] = "spot-a"
    try:
        assert [n.name for n in cluster_settings().node_specs()] == ["spot-a"]
    finally:
        del os.environ["MSAI_CLUSTER_NODES"]


def test_pki_identities_and_private_keys(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    pki.ensure_ca()
    pki.ensure_cert("kubelet-x", user="system:node:x", groups=("system:nodes",))
    pki.ensure_cert("apiserver", user="kube-apiserver", ips=("10.200.0.2",), server=True)
    cert = x509.load_pem_x509_certificate(pki.path("kubelet-x", "crt").read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:x"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "system:nodes"
    )
    server = x509.load_pem_x509_certificate(pki.path("apiserver", "crt").read_bytes())
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.200.0.2"]
    for name in ("ca", "kubelet-x", "apiserver"):
        assert stat.S_IMODE(pki.path(name, "key").stat().st_mode) == 0o600
    before = pki.path("ca", "crt").read_bytes()
    pki.ensure_ca()
    assert pki.path("ca", "crt").read_bytes() == before  # kept, not remade


def test_every_process_has_its_own_ports_and_state(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    layout = Layout(s.home_path, tmp_path / "run")
    bins = Binaries(tmp_path / "k8s", tmp_path / "etcd")
    nodes = s.node_specs()
    procs = control_plane(s, layout, bins, Pki(layout.pki)) + node_processes(s, layout, bins, nodes)
    assert [p.name for p in procs].count("kube-proxy") == 1
    kubelet_configs = [(layout.node(n) / "kubelet" / "config.yaml").read_text() for n in nodes]
    roots = {line for c in kubelet_configs for line in c.splitlines() if "cgroupRoot" in line}
    assert len(roots) == 3
    sockets = {
        line
        for n in nodes
        for line in (layout.node(n) / "containerd" / "config.toml").read_text().splitlines()
        if line.strip().startswith("address") and ".sock" in line
    }
    assert len(sockets) == 6  # grpc + ttrpc, three nodes
    spot = next(p for p in procs if p.name == "kubelet-spot-a")
    assert "--register-with-taints=spot=true:NoSchedule" in spot.argv


def test_oci_archive_is_a_valid_layout(tmp_path: Path) -> None:
    payload = tmp_path / "hello"
    payload.write_text("hi")
    out = oci_archive(tmp_path / "img.tar", "msai.local/x:1", {"bin/hello": payload}, ["/x"])
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        digest = index["manifests"][0]["digest"].split(":")[1]
        assert f"blobs/sha256/{digest}" in names
        assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == (
            "msai.local/x:1"
        )


# -- a real cluster ---------------------------------------------------------------------------


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, cgroups, containerd)"
    missing = host_tools_missing()
    if missing:
        return f"needs Debian packages {' '.join(missing)}: scripts/setup --cluster"
    s = cluster_settings()
    for part in (f"kubernetes-{s.k8s_version}", f"etcd-{s.etcd_version}"):
        if not (s.cache_path / part / ".complete").exists():
            return f"{part} not built in {s.cache_path}: scripts/setup --cluster"
    return None


@pytest.fixture
def home() -> Iterator[Path]:
    """A cluster's folder outside pytest's numbered temp folders, which a concurrent pytest
    session may delete while the cluster still runs."""
    with tempfile.TemporaryDirectory(prefix="msai-cluster-test-") as d:
        yield Path(d)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    why = _why_not()
    if why:
        pytest.skip(why)
    base = cluster_settings()
    tmp = tempfile.TemporaryDirectory(prefix="msai-cluster-test-")
    s = _settings(
        Path(tmp.name),
        k8s_version=base.k8s_version,
        etcd_version=base.etcd_version,
        cache_dir=base.cache_dir,
    )
    c = Cluster(s, say=lambda _line: None)
    try:
        c.up()
        yield c
    finally:
        c.down()
        tmp.cleanup()


def _kubectl(c: Cluster, *args: str, stdin: str | None = None) -> str:
    kubectl = c.binaries(build=False).k8s("kubectl")
    out = subprocess.run(
        [kubectl, f"--kubeconfig={c.kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


_WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations: [{key: spot, operator: Equal, value: "true", effect: NoSchedule}]
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
         nodeTaintsPolicy: Honor, labelSelector: {matchLabels: {app: web}}}
      containers:
      - name: web
        image: msai.local/pause:1
        imagePullPolicy: Never
        command: ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/bin"]
        readinessProbe: {httpGet: {path: /busybox, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


def _pods(c: Cluster) -> list[dict[str, str]]:
    items = json.loads(_kubectl(c, "get", "pods", "-l", "app=web", "-o", "json"))["items"]
    return [
        {
            "name": p["metadata"]["name"],
            "node": p["spec"].get("nodeName", ""),
            "ready": str(
                any(
                    cond["type"] == "Ready" and cond["status"] == "True"
                    for cond in p["status"].get("conditions", [])
                )
            ),
            "deleting": str("deletionTimestamp" in p["metadata"]),
        }
        for p in items
    ]


def _until(what: str, ok: object, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ok():  # type: ignore[operator]
            return
        time.sleep(1)
    raise AssertionError(f"not reached within {timeout_s} s: {what}")


@pytest.mark.slow
def test_a_real_cluster_runs_drains_and_goes(cluster: Cluster) -> None:
    status = cluster.status()
    assert status["up"]
    assert sorted(n["name"] for n in status["nodes"]) == ["general-a", "general-b", "spot-a"]
    assert all(n["ready"] for n in status["nodes"])

    _kubectl(cluster, "apply", "-f", "-", stdin=_WEB)

    def spread() -> bool:
        pods = _pods(cluster)
        return len(pods) == 3 and all(p["ready"] == "True" for p in pods)

    _until("3 web pods Ready", spread)
    assert {p["node"] for p in _pods(cluster)} == {"general-a", "general-b", "spot-a"}

    # Through the Service: kube-proxy's rules in the cluster's namespace.
    ip = _kubectl(cluster, "get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}")
    ns = f"--net=/var/run/netns/{cluster.s.netns}"
    for _ in range(6):
        out = subprocess.run(
            [
                "nsenter",
                ns,
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-m",
                "3",
                f"http://{ip}/busybox",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        assert out.stdout == "200", out

    # A real drain: cordon, then the eviction API; the scheduler places the replacement on
    # another node and the spot node ends empty.
    _kubectl(
        cluster,
        "drain",
        "spot-a",
        "--ignore-daemonsets",
        "--timeout=60s",
        "--pod-selector=app=web",
        "--disable-eviction=false",
    )
    nodes = {n["name"]: n for n in cluster.status()["nodes"]}
    assert nodes["spot-a"]["unschedulable"]
    _until(
        "3 Ready pods off spot-a",
        lambda: (
            [
                p["node"]
                for p in _pods(cluster)
                if p["ready"] == "True" and p["deleting"] == "False"
            ].count("spot-a")
            == 0
            and sum(p["ready"] == "True" for p in _pods(cluster)) >= 3
        ),
    )


@pytest.mark.slow
def test_down_leaves_nothing(home: Path) -> None:
    why = _why_not()
    if why:
        pytest.skip(why)
    base = cluster_settings()
    s = _settings(
        home,
        netns="msai-test-cl2",
        host_cidr="10.200.0.8/30",
        nodes=["general-a"],
        k8s_version=base.k8s_version,
        etcd_version=base.etcd_version,
        cache_dir=base.cache_dir,
    )
    c = Cluster(s, say=lambda _line: None)
    try:
        c.up()
        assert [n["name"] for n in c.status()["nodes"]] == ["general-a"]
    finally:
        stopped = c.down()
    assert "kube-apiserver" in stopped
    assert not c.ledger.entries()
    assert (
        s.netns
        not in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=False
        ).stdout
    )
    mounts = Path("/proc/mounts").read_text()
    assert str(s.home_path) not in mounts
    assert str(c.layout.run) not in mounts
    assert not c.layout.run.exists()
    assert list(Path("/sys/fs/cgroup").glob(f"*/{s.cgroup_root('general-a')}")) == []
    assert not c.status()["up"]


@pytest.mark.slow
def test_spot_interruption_drains_then_stops_the_node(cluster: Cluster) -> None:
    """The k8s platform's spot on ``msai cluster``: notice + cordon, the node's pods evicted
    before the notice ends, then its kubelet stops and the control plane marks it NotReady;
    revert brings it back Ready and schedulable. All read back from the API server."""
    from harness.platform.kubernetes import KubernetesPlatform, KubernetesSettings
    from harness.platform.kubernetes.generic import ClusterPower
    from harness.platform.kubernetes.spot import NOTICE_ANNOTATION, NodeStopSpot

    _kubectl(cluster, "apply", "-f", "-", stdin=_WEB)
    _kubectl(cluster, "uncordon", "spot-a")
    _kubectl(cluster, "rollout", "restart", "deployment/web")
    _until(
        "a Ready web pod on spot-a",
        lambda: any(
            p["node"] == "spot-a" and p["ready"] == "True" and p["deleting"] == "False"
            for p in _pods(cluster)
        ),
        120,
    )

    settings = KubernetesSettings(
        kubeconfig=str(cluster.kubeconfig), context="msai-local", namespaces=["default"]
    )
    platform = KubernetesPlatform(
        "k8s", settings=settings, spot=NodeStopSpot(ClusterPower(cluster))
    )
    injection = platform.spot_interrupt("spot-a", 6.0)
    node = json.loads(_kubectl(cluster, "get", "node", "spot-a", "-o", "json"))
    assert node["spec"]["unschedulable"] is True
    assert NOTICE_ANNOTATION in node["metadata"]["annotations"]
    _until(
        "no web pod left on spot-a",
        lambda: not any(p["node"] == "spot-a" and p["deleting"] == "False" for p in _pods(cluster)),
        30,
    )

    def ready(name: str) -> str:
        obj = json.loads(_kubectl(cluster, "get", "node", name, "-o", "json"))
        return next(c["status"] for c in obj["status"]["conditions"] if c["type"] == "Ready")

    _until("spot-a NotReady after its notice", lambda: ready("spot-a") != "True", 60)
    assert not any(e.name == "kubelet-spot-a" for e in cluster.ledger.entries())

    platform.revert(injection)
    _until("spot-a Ready again", lambda: ready("spot-a") == "True", 60)
    node = json.loads(_kubectl(cluster, "get", "node", "spot-a", "-o", "json"))
    assert not node["spec"].get("unschedulable")
    assert NOTICE_ANNOTATION not in (node["metadata"].get("annotations") or {})


@pytest.mark.slow
def test_the_chart_serves_on_the_cluster(cluster: Cluster) -> None:
    """The chart installed by Helm with images built here (imported into every node, never
    pulled) and the bundled models on a read-only claim: its NER Service answers an
    inference through kube-proxy, from a pod the scheduler placed."""
    import shutil as _shutil

    from harness.cluster.install import install_chart, load_images

    if _shutil.which("dockerd") is None:
        pytest.skip("needs Docker Engine to build the images: scripts/setup --cluster")
    load_images(cluster)
    install_chart(cluster)
    pods = json.loads(_kubectl(cluster, "-n", "ai-models", "get", "pods", "-o", "json"))["items"]
    assert {p["metadata"]["labels"]["app.kubernetes.io/name"] for p in pods} >= {"ner", "vision"}
    assert all(p["spec"]["nodeName"] for p in pods)
    ip = _kubectl(
        cluster, "-n", "ai-models", "get", "svc", "ner", "-o", "jsonpath={.spec.clusterIP}"
    )
    cmd = [
        "nsenter",
        f"--net=/var/run/netns/{cluster.s.netns}",
        "curl",
        "-s",
        "-m",
        "10",
        "-X",
        "POST",
        f"http://{ip}:8080/v1/ner",
        "-H",
        "content-type: application/json",
        "-d",
        '{"text": "Angela Merkel visited Paris."}',
    ]

    def infer() -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)

    # kube-proxy programs a new Service's rules on its own schedule, shortly after Ready.
    _until("the NER Service answers", lambda: infer().stdout.startswith("{"), 60)
    out = infer()
    entities = json.loads(out.stdout)["entities"]
    assert {e["label"] for e in entities} >= {"PER", "LOC"}, out
