"""``msai cluster install``: the chart on ``msai cluster``, with images built here.

1. Images: a private ``dockerd`` (its data root cached on the machine, so rebuilds reuse
   layers) builds the Debian base and the model-server images with the project's scripts
   (``reference-stack/docker``); ``docker save`` archives are imported into every node's
   containerd, and pods run them with ``imagePullPolicy: Never``.
2. Models: a PersistentVolume over this checkout's ``.models`` (the nodes share this disk),
   claimed in the models namespace and mounted read-only (``modelDefaults.modelsVolumeClaim``).
3. Helm (the binary ``scripts/build-cluster`` built) installs the chart with
   ``ci/cluster-values.yaml`` and waits for every replica to be Ready.

What the cluster does not run yet (cluster DNS, the in-cluster Redis and PostgreSQL images, a
volume provisioner, Istio, KEDA, metrics-server) is switched off in those values.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.cluster.cluster import Cluster
from harness.cluster.images import import_image
from harness.errors import MissingBinary, PlatformError
from harness.settings import project_root, settings

__all__ = ["CLUSTER_VALUES", "IMAGES", "docker_engine", "install_chart", "load_images"]

CHART = project_root() / "reference-stack" / "charts" / "modelserve"
CLUSTER_VALUES = CHART / "ci" / "cluster-values.yaml"
DOCKER_DIR = project_root() / "reference-stack" / "docker"
#: The images the cluster values deploy (values.yaml ``<service>.image``).
IMAGES = ("modelserve-ner", "modelserve-vision")
RELEASE = "modelserve"


def _run(cmd: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 1800) -> str:
    out = subprocess.run(
        list(cmd), capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if out.returncode != 0:
        raise PlatformError(f"{' '.join(cmd[:3])}: {(out.stderr or out.stdout).strip()[-800:]}")
    return out.stdout


@contextlib.contextmanager
def docker_engine(cache: Path) -> Iterator[dict[str, str]]:
    """A dockerd of our own (no bridge, no iptables: builds use the host network), its data
    root under ``cache``; yields the environment that points ``docker`` at it."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise MissingBinary("dockerd", "Debian package docker.io", "scripts/setup --cluster")
    run_dir = Path(tempfile.mkdtemp(prefix="msai-dk-", dir="/tmp"))  # short socket path
    sock = run_dir / "docker.sock"
    (cache / "data").mkdir(parents=True, exist_ok=True)
    with open(run_dir / "dockerd.log", "wb") as log:
        proc = subprocess.Popen(
            [
                dockerd,
                "--host",
                f"unix://{sock}",
                "--data-root",
                str(cache / "data"),
                "--exec-root",
                str(run_dir / "exec"),
                "--pidfile",
                str(run_dir / "dockerd.pid"),
                "--bridge",
                "none",
                "--iptables=false",
                "--ip6tables=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    try:
        deadline = time.monotonic() + 60
        while (
            subprocess.run(
                ["docker", "version"], env=env, capture_output=True, check=False
            ).returncode
            != 0
        ):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (run_dir / "dockerd.log").read_text(errors="replace")[-600:]
                raise PlatformError(f"dockerd did not start: {tail}")
            time.sleep(0.5)
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        # dockerd leaves its network namespace mounted under the exec root
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(str(run_dir))), reverse=True):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        shutil.rmtree(run_dir, ignore_errors=True)


def _tag() -> str:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return str(values["global"]["imageTag"])


def load_images(cluster: Cluster) -> dict[str, float]:
    """Build (layers cached) and import the images into every node; seconds per step."""
    tag = _tag()
    cache = cluster.s.cache_path.parent / "docker"
    times: dict[str, float] = {}
    archives = cluster.layout.home / "images"
    archives.mkdir(parents=True, exist_ok=True)
    with docker_engine(cache) as env:
        t0 = time.monotonic()
        _run([str(DOCKER_DIR / "build-base.sh")], env=env)
        _run([str(DOCKER_DIR / "build-images.sh"), "--tag", tag, *IMAGES], env=env)
        times["build"] = time.monotonic() - t0
        t0 = time.monotonic()
        for image in IMAGES:
            _run(
                ["docker", "save", "-o", str(archives / f"{image}.tar"), f"{image}:{tag}"], env=env
            )
        times["save"] = time.monotonic() - t0
    t0 = time.monotonic()
    for node in cluster.s.node_specs():
        for image in IMAGES:
            import_image(
                cluster.layout.containerd_socket(node),
                archives / f"{image}.tar",
                f"docker.io/library/{image}:{tag}",
            )
    times["import"] = time.monotonic() - t0
    return times


def _apply(cluster: Cluster, objects: list[dict[str, object]]) -> None:
    kubectl = cluster.binaries(build=False).k8s("kubectl")
    doc = "\n---\n".join(json.dumps(o) for o in objects)
    out = subprocess.run(
        [kubectl, f"--kubeconfig={cluster.kubeconfig}", "apply", "-f", "-"],
        input=doc,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise PlatformError(f"kubectl apply: {out.stderr.strip()[-800:]}")


def _prerequisites(cluster: Cluster, values: dict[str, Any]) -> list[dict[str, object]]:
    """Namespaces with the chart's Pod Security labels (created here, so the models claim can
    exist before the pods), the models PersistentVolume and its claim."""
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    ns = chart_values["namespaces"]
    claim = str((values.get("modelDefaults") or {}).get("modelsVolumeClaim") or "")
    if not claim:
        raise PlatformError(f"{CLUSTER_VALUES}: modelDefaults.modelsVolumeClaim is not set")
    models_dir = settings().models_path
    labels = {
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    objs: list[dict[str, object]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": labels}}
        for n in (ns["models"], ns["orchestrator"])
    ]
    pv = f"msai-models-{cluster.s.netns}"
    objs.append(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadOnlyMany"],
                "storageClassName": "msai-models",
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(models_dir), "type": "Directory"},
                "claimRef": {"namespace": ns["models"], "name": claim},
            },
        }
    )
    objs.append(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim, "namespace": ns["models"]},
            "spec": {
                "accessModes": ["ReadOnlyMany"],
                "storageClassName": "msai-models",
                "volumeName": pv,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )
    return objs


def install_chart(cluster: Cluster, *, timeout_s: float = 300) -> float:
    """Install (or upgrade) the release with the cluster values and wait until Ready."""
    helm = cluster.s.cache_path / f"helm-{cluster.s.helm_version}" / "bin" / "helm"
    if not helm.exists():
        raise MissingBinary(
            f"helm {cluster.s.helm_version}",
            "scripts/build-cluster helm",
            "scripts/setup --cluster",
        )
    values = yaml.safe_load(CLUSTER_VALUES.read_text())
    if not settings().models_path.is_dir():
        raise PlatformError(f"no models in {settings().models_path}: run msai models build")
    _apply(cluster, _prerequisites(cluster, values))
    t0 = time.monotonic()
    _run(
        [
            str(helm),
            "upgrade",
            "--install",
            RELEASE,
            str(CHART),
            "-f",
            str(CLUSTER_VALUES),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--wait",
            "--timeout",
            f"{int(timeout_s)}s",
        ],
        timeout=timeout_s + 60,
    )
    return time.monotonic() - t0
