"""``KubernetesPlatform``: the Platform interface over a cluster running the chart (kind, EKS).

Every call goes through the official ``kubernetes`` client with raw JSON in and out (what is
sent is what a contract test asserts). Faults and their undo data:

=================  ====================================  =====================================
fault              inject                                undo (in ``Injection.undo``)
=================  ====================================  =====================================
kill               DELETE pods (grace 0 unless graceful)  none: the Deployment brings them back
drain              cordon, then the Eviction API per pod  was the node already unschedulable
                   (429 from a PodDisruptionBudget is
                   retried until ``drain_timeout_s``)
spot_interrupt     the backend's (kind: notice + cordon   the backend's
                   + drain + stop the node container;
                   EKS: an AWS FIS experiment)
mesh_fault         VirtualService ``http[].fault``        the previous ``spec.http`` of each
                                                          VirtualService patched
outage stop        scale the StatefulSet to 0             the replica count before
outage cutoff      deny policy + narrowed allow policies  created names, previous selectors
partition          a NetworkPolicy pair (one per side)    created names, previous selectors
=================  ====================================  =====================================

``up`` installs or upgrades the chart with the scenario's stack (``helm upgrade --install``,
values from :mod:`.helm`) and waits until every service is ready; ``running`` says whether the
chart is there already (a scenario then reuses it). ``down`` never deletes anything of the
cluster: it stops the port-forwards this process opened.

``revert`` needs only the Injection: a fresh platform in a later process can take a fault
back. Reverting twice, or what is already gone (404), is fine. An Injection the fault ledger
rebuilt from the plan (``undo.from_plan``: the harness died between inject and the ledger
write) is reverted by kind and target alone.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from harness.errors import ConfigError, FaultError, PlatformError, Unsupported
from harness.platform.base import (
    Endpoint,
    Injection,
    Node,
    Replica,
    StackSpec,
    Store,
    new_injection_id,
)
from harness.platform.kubernetes.netpol import NAME_LABEL, isolate, revert_isolation
from harness.platform.kubernetes.settings import KubernetesSettings, k8s_settings
from harness.ports import LOOPBACK, free_port

__all__ = ["MERGE_PATCH", "KubernetesPlatform", "ScaleStatus", "SpotBackend", "Workload"]

MERGE_PATCH = "application/merge-patch+json"
PART_OF = "app.kubernetes.io/part-of"
COMPONENT = "app.kubernetes.io/component"
KEDA = ("keda.sh", "v1alpha1", "scaledobjects")
#: reference-stack/kind labels each worker with the values.yaml node it stands for: nodes are
#: shown (and may be named) by it, as the local platform names them
NODE_LABEL = "modelserve.ai/node"


class SpotBackend(Protocol):
    """How a spot interruption happens where the cluster runs (kind: Docker; EKS: AWS FIS)."""

    def interrupt(self, platform: KubernetesPlatform, node: str, notice_s: float) -> dict[str, Any]:
        """Start it; return the undo data."""
        ...

    def revert(self, platform: KubernetesPlatform, undo: dict[str, Any]) -> None: ...

    def revert_from_plan(self, platform: KubernetesPlatform, node: str) -> None:
        """Take back an interruption of ``node`` with no undo data (a harness died
        between inject and the ledger): by node alone."""
        ...


@dataclass(frozen=True)
class Workload:
    kind: str  # "Deployment" | "StatefulSet"
    namespace: str
    name: str  # object name
    app: str  # app.kubernetes.io/name
    labels: dict[str, str]  # pod template labels


@dataclass(frozen=True)
class ScaleStatus:
    """Replica counts of one service: its Deployments (stable + canary), HPA and ScaledObject."""

    service: str
    desired: int  # sum of spec.replicas
    ready: int  # sum of status.readyReplicas
    updated: int
    hpa_desired: int | None  # HorizontalPodAutoscaler status.desiredReplicas
    keda_active: bool | None  # ScaledObject condition Active

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _run_command(cmd: list[str]) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise PlatformError(f"cannot run {cmd[0]}: {exc}") from exc
    if proc.returncode != 0:
        raise PlatformError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip()[-2000:]}")


def _data(resp: Any) -> Any:
    return json.loads(resp.data) if resp.data else {}


class KubernetesPlatform:
    """The chart on a cluster. ``api`` is a ``kubernetes.client.ApiClient`` (default: built
    from the kubeconfig and ``MSAI_K8S_CONTEXT``); ``spot`` does spot interruptions."""

    #: what scenarios may ``require`` beyond services (msai.gameday): spot notices (kind: by
    #: hand, EKS: FIS and the termination handler) and PostgreSQL backups
    features = frozenset({"spot_notices", "backup:postgresql"})

    def __init__(
        self,
        name: str,
        *,
        api: Any = None,
        settings: KubernetesSettings | None = None,
        spot: SpotBackend | None = None,
        extra_values: dict[str, Any] | None = None,
        run: Callable[[list[str]], None] | None = None,
    ) -> None:
        """``extra_values``: chart values under every stack (EKS: the Terraform outputs'
        ``chart_values``); ``run`` runs a command (default: a subprocess that must succeed)."""
        self.name = name
        self.extra_values = extra_values or {}
        self._run = run or _run_command
        self.settings = settings or k8s_settings()
        self._api = api
        self.spot = spot
        self._forwards: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
        self.threads: list[threading.Thread] = []  # background work (drains)

    # ------------------------------------------------------------------ plumbing
    @property
    def api(self) -> Any:
        if self._api is None:
            from kubernetes import config

            try:
                self._api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                    config_file=self.settings.kubeconfig or None,
                    context=self.settings.context or None,
                )
            except Exception as exc:  # kubeconfig missing, context unknown
                raise PlatformError(f"{self.name}: cannot load the kube config: {exc}") from exc
        return self._api

    def _client(self, cls_name: str) -> Any:
        from kubernetes import client

        return getattr(client, cls_name)(self.api)

    @property
    def core(self) -> Any:
        return self._client("CoreV1Api")

    @property
    def apps(self) -> Any:
        return self._client("AppsV1Api")

    @property
    def custom(self) -> Any:
        return self._client("CustomObjectsApi")

    @property
    def networking(self) -> Any:
        return self._client("NetworkingV1Api")

    @property
    def policy(self) -> Any:
        return self._client("PolicyV1Api")

    @property
    def autoscaling(self) -> Any:
        return self._client("AutoscalingV2Api")

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One API call, raw JSON back; ``ApiException`` propagates (callers map statuses)."""
        kwargs.setdefault("_request_timeout", self.settings.request_timeout_s)
        return _data(fn(*args, _preload_content=False, **kwargs))

    def merge_patch(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A JSON merge patch (RFC 7386: null deletes; lists are replaced whole). The client
        would otherwise pick json-patch+json for a dict body."""
        return self.call(fn, *args, _content_type=MERGE_PATCH)

    @staticmethod
    def _status(exc: BaseException) -> int | None:
        return getattr(exc, "status", None)

    def ignore_404(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    # ------------------------------------------------------------------ lifecycle
    def running(self) -> bool:
        """Whether the chart's services are installed (a scenario then reuses the stack)."""
        try:
            return bool(self.services())
        except Exception:  # no cluster, no context, no permission: not running for us
            return False

    def up(self, stack: StackSpec) -> None:
        """Install or upgrade the chart with ``stack`` (profile + overrides, over the
        ``extra_values``) with Helm, then wait until every service is ready."""
        import shutil
        import tempfile

        from harness.platform.kubernetes.helm import chart_values, upgrade_command

        values = chart_values(stack, self.extra_values)
        try:
            self.call(self.core.list_node, limit=1)
        except Exception as exc:
            hint = "create it with `msai kind up`" if self.name == "kind" else "check the context"
            raise PlatformError(
                f"{self.name}: no cluster answers at kube context "
                f"{self.settings.context or '(current)'}: {exc}; {hint}"
            ) from exc
        helm = shutil.which(self.settings.helm)
        if helm is None:
            raise PlatformError(
                f"helm not found ({self.settings.helm!r}): it installs the chart for a scenario; "
                "https://helm.sh/docs/intro/install/ (or MSAI_K8S_HELM=path)"
            )
        with tempfile.TemporaryDirectory(prefix="msai-helm-") as tmp:
            path = Path(tmp) / "values.yaml"
            path.write_text(yaml.safe_dump(values))
            cmd = upgrade_command(
                helm,
                self.settings.release,
                path,
                namespace=self.settings.release_namespace,
                context=self.settings.context,
                kubeconfig=self.settings.kubeconfig,
                timeout_s=self.settings.ready_timeout_s,
            )
            self._run(cmd)
        deadline = time.monotonic() + self.settings.ready_timeout_s
        for service in self.services():
            left = max(1.0, deadline - time.monotonic())
            self.watch_scale(service, lambda s: s.desired > 0 and s.ready >= s.desired, left)

    def down(self) -> None:
        """Stop port-forwards and background work this process started (never the cluster)."""
        for proc, _ in self._forwards.values():
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
            if proc.stderr is not None:
                proc.stderr.close()
        self._forwards.clear()

    close = down

    # ------------------------------------------------------------------ discovery
    def workloads(self) -> list[Workload]:
        """The chart's Deployments and StatefulSets in the allowed namespaces."""
        out: list[Workload] = []
        for ns in self.settings.namespaces:
            for fn, kind in (
                (self.apps.list_namespaced_deployment, "Deployment"),
                (self.apps.list_namespaced_stateful_set, "StatefulSet"),
            ):
                items = self.call(fn, ns, label_selector=f"{PART_OF}=modelserve").get("items", [])
                for obj in items:
                    meta = obj.get("metadata", {})
                    labels = meta.get("labels") or {}
                    if labels.get(PART_OF) != "modelserve" and kind == "Deployment":
                        continue  # the selector is a hint; check it (not every server filters)
                    tpl = obj.get("spec", {}).get("template", {}).get("metadata", {})
                    app = labels.get(NAME_LABEL, meta["name"])
                    out.append(Workload(kind, ns, meta["name"], app, dict(tpl.get("labels") or {})))
        return out

    def _workload(self, app: str, kinds: tuple[str, ...] = ("Deployment", "StatefulSet")) -> Any:
        for w in self.workloads():
            if w.app == app and w.kind in kinds and w.name == app:
                return w
        have = sorted({w.app for w in self.workloads()})
        raise ConfigError(f"no workload {app!r} in {self.settings.namespaces} (have {have})")

    def services(self) -> list[str]:
        names = {
            w.app
            for w in self.workloads()
            if w.kind == "Deployment" and w.labels.get(COMPONENT) in ("model", "orchestrator")
        }
        return sorted(names)

    def _service_ns(self, service: str) -> str:
        for w in self.workloads():
            if w.app == service and w.kind == "Deployment":
                return w.namespace
        raise ConfigError(f"no service {service!r} (have {self.services()})", field="service")

    def pods_of(self, namespace: str | None, selector: dict[str, str]) -> list[dict[str, Any]]:
        sel = ",".join(f"{k}={v}" for k, v in selector.items())
        if namespace is None:
            data = self.call(self.core.list_pod_for_all_namespaces, label_selector=sel)
        else:
            data = self.call(self.core.list_namespaced_pod, namespace, label_selector=sel)
        return [
            p
            for p in data.get("items", [])
            if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
        ]

    # ------------------------------------------------------------------ observation
    def endpoints(self) -> dict[str, Endpoint]:
        base = self.settings.gateway_url or self._gateway_from_service()
        return {s: Endpoint(s, f"{base.rstrip('/')}/{s}", s) for s in self.services()}

    def _gateway_from_service(self) -> str:
        ns, name = self.settings.gateway_service.split("/", 1)
        svc = self.call(self.core.read_namespaced_service, name, ns)
        for ing in svc.get("status", {}).get("loadBalancer", {}).get("ingress") or []:
            host = ing.get("hostname") or ing.get("ip")
            if host:
                return f"http://{host}"
        raise PlatformError(
            f"{self.name}: the gateway Service {ns}/{name} has no load-balancer address yet; "
            "set MSAI_K8S_GATEWAY_URL"
        )

    def node_names(self) -> dict[str, str]:
        """Kubernetes node name -> the name shown (its ``modelserve.ai/node`` label, or itself)."""
        out = {}
        for n in self.call(self.core.list_node).get("items", []):
            meta = n["metadata"]
            out[meta["name"]] = (meta.get("labels") or {}).get(NODE_LABEL) or meta["name"]
        return out

    def resolve_node(self, node: str) -> str:
        """The Kubernetes name of ``node``, given either name (unknown names pass through)."""
        names = self.node_names()
        if node in names:
            return node
        return next((k for k, shown in names.items() if shown == node), node)

    def replicas(self, service: str) -> list[Replica]:
        ns = self._service_ns(service)
        shown = self.node_names()
        out = []
        for pod in self.pods_of(ns, {NAME_LABEL: service}):
            meta, spec, status = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
            if meta.get("deletionTimestamp"):
                continue  # terminating: not a replica any more
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            )
            ip = status.get("podIP")
            url = f"http://{ip}:{self.settings.container_port}" if ip else ""
            version = (meta.get("labels") or {}).get("version", "stable")
            node = spec.get("nodeName", "")
            out.append(Replica(service, meta["name"], shown.get(node, node), url, ready, version))
        return sorted(out, key=lambda r: r.name)

    def nodes(self) -> list[Node]:
        pods_on: dict[str, list[str]] = {}
        for ns in self.settings.namespaces:
            for pod in self.call(self.core.list_namespaced_pod, ns).get("items", []):
                node = pod.get("spec", {}).get("nodeName")
                if node and not pod["metadata"].get("deletionTimestamp"):
                    pods_on.setdefault(node, []).append(pod["metadata"]["name"])
        out = []
        for n in self.call(self.core.list_node).get("items", []):
            name = n["metadata"]["name"]
            schedulable = not n.get("spec", {}).get("unschedulable", False)
            labels = dict(n["metadata"].get("labels") or {})
            shown = labels.get(NODE_LABEL) or name
            out.append(Node(shown, labels, schedulable, sorted(pods_on.get(name, []))))
        return out

    def scale_status(self, service: str) -> ScaleStatus:
        """Deployments (stable + canary), the HPA and the KEDA ScaledObject of ``service``."""
        from kubernetes.client.exceptions import ApiException

        ns = self._service_ns(service)
        deps = self.call(
            self.apps.list_namespaced_deployment, ns, label_selector=f"{NAME_LABEL}={service}"
        )
        return self._status_of(service, ns, deps.get("items", []), ApiException)

    def _status_of(
        self, service: str, ns: str, deployments: list[dict[str, Any]], api_exc: type[Exception]
    ) -> ScaleStatus:
        mine = [
            d for d in deployments if (d["metadata"].get("labels") or {}).get(NAME_LABEL) == service
        ]
        desired = sum(int(d.get("spec", {}).get("replicas") or 0) for d in mine)
        ready = sum(int(d.get("status", {}).get("readyReplicas") or 0) for d in mine)
        updated = sum(int(d.get("status", {}).get("updatedReplicas") or 0) for d in mine)
        hpa_desired: int | None = None
        try:
            hpa = self.call(self.autoscaling.read_namespaced_horizontal_pod_autoscaler, service, ns)
            hpa_desired = int(hpa.get("status", {}).get("desiredReplicas") or 0)
        except api_exc as exc:
            if self._status(exc) != 404:
                raise
        keda: bool | None = None
        try:
            group, version, plural = KEDA
            get = self.custom.get_namespaced_custom_object
            so = self.call(get, group, version, ns, plural, service)
            conds = so.get("status", {}).get("conditions") or []
            keda = any(c.get("type") == "Active" and c.get("status") == "True" for c in conds)
        except api_exc as exc:
            if self._status(exc) != 404:
                raise
        return ScaleStatus(service, desired, ready, updated, hpa_desired, keda)

    def watch_scale(
        self,
        service: str,
        until: Callable[[ScaleStatus], bool],
        timeout_s: float,
    ) -> ScaleStatus:
        """Watch the service's Deployments until ``until(status)`` holds; returns that status.
        Raises PlatformError with the last status seen when ``timeout_s`` passes first."""
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        ns = self._service_ns(service)
        status = self.scale_status(service)
        deadline = time.monotonic() + timeout_s
        seen: dict[str, dict[str, Any]] = {}
        while not until(status):
            left = deadline - time.monotonic()
            if left <= 0:
                raise PlatformError(
                    f"{self.name}: {service} did not reach the wanted state in {timeout_s:g}s "
                    f"(last: {status.to_json()})"
                )
            w = watch.Watch()  # type: ignore[no-untyped-call]
            try:
                for event in w.stream(  # type: ignore[no-untyped-call]
                    self.apps.list_namespaced_deployment,
                    ns,
                    label_selector=f"{NAME_LABEL}={service}",
                    timeout_seconds=max(1, int(left)),
                    _request_timeout=max(0.5, min(left, self.settings.request_timeout_s)),
                ):
                    obj = self.api.sanitize_for_serialization(event["object"])
                    if event["type"] == "DELETED":
                        seen.pop(obj["metadata"]["name"], None)
                    else:
                        seen[obj["metadata"]["name"]] = obj
                    status = self._status_of(service, ns, list(seen.values()), ApiException)
                    if until(status) or time.monotonic() > deadline:
                        break
            except Exception as exc:  # the watch timed out or broke: re-read, watch again
                if isinstance(exc, ApiException) and exc.status not in (410, 500, 503):
                    raise
                status = self.scale_status(service)
            finally:
                w.stop()  # type: ignore[no-untyped-call]
        return status

    @property
    def prometheus_url(self) -> str:
        return self.settings.prometheus_url or self._forward(self.settings.prometheus_service)

    @property
    def alertmanager_url(self) -> str:
        return self.settings.alertmanager_url or self._forward(self.settings.alertmanager_service)

    def port_forward_command(self, target: str, local_port: int) -> list[str]:
        """``kubectl port-forward`` argv for ``NAMESPACE/SERVICE:PORT`` on ``local_port``."""
        try:
            ns_svc, port = target.rsplit(":", 1)
            ns, svc = ns_svc.split("/", 1)
            int(port)
        except ValueError:
            raise ConfigError(
                f"{target!r} is not NAMESPACE/SERVICE:PORT", field="MSAI_K8S_*_SERVICE"
            ) from None
        cmd = [self.settings.kubectl, "port-forward", "-n", ns, f"svc/{svc}"]
        cmd += [f"{local_port}:{port}", "--address", LOOPBACK]
        if self.settings.context:
            cmd += ["--context", self.settings.context]
        if self.settings.kubeconfig:
            cmd += ["--kubeconfig", self.settings.kubeconfig]
        return cmd

    def _forward(self, target: str) -> str:
        held = self._forwards.get(target)
        if held is not None and held[0].poll() is None:
            return held[1]
        port = free_port()
        cmd = self.port_forward_command(target, port)
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as exc:
            raise PlatformError(f"cannot run {cmd[0]} for a port-forward: {exc}") from exc
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = ""
                if proc.stderr is not None:
                    err = proc.stderr.read().decode(errors="replace")
                    proc.stderr.close()
                raise PlatformError(f"kubectl port-forward to {target} exited: {err.strip()}")
            with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 0.5):
                url = f"http://{LOOPBACK}:{port}"
                self._forwards[target] = (proc, url)
                return url
            time.sleep(0.1)
        proc.kill()
        proc.wait(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()
        raise PlatformError(f"kubectl port-forward to {target} did not open in 15 s")

    # ------------------------------------------------------------------ faults
    def _injection(
        self,
        kind: str,
        target: str,
        params: dict[str, Any],
        undo: dict[str, Any],
        duration_s: float | None = None,
        injection_id: str | None = None,
    ) -> Injection:
        now = time.time()
        return Injection(
            injection_id or new_injection_id(kind),
            self.name,
            kind,
            target,
            params,
            undo,
            now,
            now + duration_s if duration_s else None,
        )

    def kill(self, service: str, count: int = 1, *, graceful: bool = False) -> list[str]:
        if count < 1:
            raise ConfigError(f"count must be >= 1, got {count}", field="count")
        ns = self._service_ns(service)
        victims = [r.name for r in self.replicas(service) if r.ready][:count]
        if not victims:
            raise FaultError(f"{service} has no ready replica to kill")
        body = {} if graceful else {"gracePeriodSeconds": 0}
        for pod in victims:
            self.ignore_404(self.call, self.core.delete_namespaced_pod, pod, ns, body=body)
        return victims

    def cordon(self, node: str) -> bool:
        """Mark the node unschedulable; returns whether it already was."""
        obj = self.call(self.core.read_node, node)
        was = bool(obj.get("spec", {}).get("unschedulable", False))
        if not was:
            self.merge_patch(self.core.patch_node, node, {"spec": {"unschedulable": True}})
        return was

    def uncordon(self, node: str) -> None:
        self.ignore_404(
            self.merge_patch, self.core.patch_node, node, {"spec": {"unschedulable": None}}
        )

    def evict_all(self, node: str, deadline: float) -> list[str]:
        """Evict every pod on ``node`` through the Eviction API, retrying the ones a
        PodDisruptionBudget holds (429) until ``deadline`` (monotonic). Returns those left.
        DaemonSet and mirror pods stay, as ``kubectl drain --ignore-daemonsets`` leaves them."""
        from kubernetes.client.exceptions import ApiException

        pods = self.call(
            self.core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={node}"
        ).get("items", [])
        left = [
            (p["metadata"]["namespace"], p["metadata"]["name"])
            for p in pods
            if p.get("spec", {}).get("nodeName") == node
            and not p["metadata"].get("deletionTimestamp")
            and "kubernetes.io/config.mirror" not in (p["metadata"].get("annotations") or {})
            and not any(
                o.get("kind") == "DaemonSet" for o in p["metadata"].get("ownerReferences") or []
            )
        ]
        while left:
            blocked = []
            for ns, name in left:
                body = {
                    "apiVersion": "policy/v1",
                    "kind": "Eviction",
                    "metadata": {"name": name, "namespace": ns},
                }
                try:
                    self.call(self.core.create_namespaced_pod_eviction, name, ns, body)
                except ApiException as exc:
                    if exc.status == 429:  # a PodDisruptionBudget says not now
                        blocked.append((ns, name))
                    elif exc.status != 404:  # 404: gone already
                        raise
            left = blocked
            if not left or time.monotonic() >= deadline:
                break
            time.sleep(min(self.settings.eviction_retry_s, max(0.0, deadline - time.monotonic())))
        return [f"{ns}/{name}" for ns, name in left]

    def drain(self, node: str) -> Injection:
        shown, node = node, self.resolve_node(node)
        was = self.cordon(node)
        deadline = time.monotonic() + self.settings.drain_timeout_s
        try:
            left = self.evict_all(node, deadline)
        except BaseException:
            if not was:
                self.uncordon(node)
            raise
        if left:
            if not was:
                self.uncordon(node)
            raise FaultError(
                f"drain of {node} gave up after {self.settings.drain_timeout_s:g}s: "
                f"PodDisruptionBudgets still block {left}; node uncordoned"
            )
        return self._injection("drain", shown, {}, {"node": node, "was_unschedulable": was})

    def drain_in_background(self, node: str, deadline: float) -> threading.Thread:
        """Evict the node's pods in a thread (a termination handler's drain)."""

        def run() -> None:
            with contextlib.suppress(Exception):  # the node may vanish mid-drain: fine
                self.evict_all(node, deadline)

        t = threading.Thread(target=run, name=f"drain-{node}", daemon=True)
        t.start()
        self.threads.append(t)
        return t

    def spot_interrupt(self, node: str, notice_s: float) -> Injection:
        if self.spot is None:
            raise Unsupported(self.name, "interrupt a spot node", "no spot backend configured")
        if notice_s < 0:
            raise ConfigError(f"notice must be >= 0, got {notice_s}", field="notice")
        undo = self.spot.interrupt(self, self.resolve_node(node), notice_s)
        return self._injection("spot_interrupt", node, {"notice_s": notice_s}, undo)

    def mesh_fault(
        self,
        route: str,
        *,
        delay_ms: float | None = None,
        abort_status: int | None = None,
        percent: float = 100.0,
        duration_s: float | None = None,
    ) -> Injection:
        from harness.platform.kubernetes import mesh

        fault = mesh.fault_block(delay_ms, abort_status, percent)
        patched = mesh.inject(self, route, fault)
        params = {"delay_ms": delay_ms, "abort_status": abort_status, "percent": percent}
        return self._injection(
            "mesh_fault", route, params, {"virtualservices": patched}, duration_s
        )

    def outage(
        self, dependency: str, *, mode: str = "stop", duration_s: float | None = None
    ) -> Injection:
        if mode == "freeze":
            raise Unsupported(
                self.name,
                "freeze a dependency",
                "a container cannot be SIGSTOPped through the Kubernetes API; use stop or cutoff",
            )
        if mode not in ("stop", "cutoff"):
            raise ConfigError(f"mode must be stop, cutoff or freeze, got {mode!r}", field="mode")
        w = self._dependency(dependency)
        iid = new_injection_id("outage")
        if mode == "stop":
            scale = self.call(self.apps.read_namespaced_stateful_set_scale, w.name, w.namespace)
            replicas = int(scale.get("spec", {}).get("replicas") or 0)
            undo: dict[str, Any] = {
                "scale": {"namespace": w.namespace, "name": w.name, "replicas": replicas}
            }
            self.merge_patch(
                self.apps.patch_namespaced_stateful_set_scale,
                w.name,
                w.namespace,
                {"spec": {"replicas": 0}},
            )
        else:
            undo = {"created": [], "narrowed": []}
            try:
                isolate(self, w, None, iid, into=undo)
            except BaseException:
                with contextlib.suppress(Exception):  # the injection error is the one to see
                    revert_isolation(self, undo)
                raise
        return self._injection(
            "outage", dependency, {"mode": mode}, undo, duration_s, injection_id=iid
        )

    def _dependency(self, dependency: str) -> Workload:
        for w in self.workloads():
            if w.kind == "StatefulSet" and w.app == dependency:
                return w
        raise Unsupported(
            self.name,
            f"take {dependency} down",
            f"no StatefulSet {dependency!r} in {self.settings.namespaces} (an external "
            "datastore, e.g. ElastiCache or RDS on EKS, is outside the cluster's reach)",
        )

    def partition(self, a: str, b: str, *, duration_s: float | None = None) -> Injection:
        if a == b:
            raise ConfigError("a partition needs two different sides", field="target")
        sides = []
        for side in (a, b):
            if side == "gateway":
                raise Unsupported(
                    self.name,
                    "partition the gateway",
                    "use a mesh_fault with abort_status 503 on the route instead",
                )
            sides.append(self._workload(side))
        wa, wb = sides
        iid = new_injection_id("partition")
        undo: dict[str, Any] = {"created": [], "narrowed": []}
        try:
            for target, other in ((wb, wa), (wa, wb)):
                isolate(self, target, other, iid, into=undo)
        except BaseException:
            with contextlib.suppress(Exception):  # the injection error is the one to see
                revert_isolation(self, undo)
            raise
        return self._injection(
            "partition", f"{a}|{b}", {"a": a, "b": b}, undo, duration_s, injection_id=iid
        )

    def revert(self, injection: Injection) -> None:
        if injection.platform != self.name:
            raise FaultError(f"injection {injection.id} belongs to platform {injection.platform}")
        undo = injection.undo
        try:
            if undo.get("from_plan"):
                self._revert_from_plan(injection)
            elif injection.kind == "drain":
                if not undo.get("was_unschedulable"):
                    self.uncordon(undo["node"])
            elif injection.kind == "spot_interrupt":
                if self.spot is None:
                    raise Unsupported(self.name, "revert a spot interruption", "no spot backend")
                self.spot.revert(self, undo)
            elif injection.kind == "mesh_fault":
                from harness.platform.kubernetes import mesh

                mesh.restore(self, undo.get("virtualservices", []))
            elif injection.kind == "outage" and "scale" in undo:
                sc = undo["scale"]
                self.ignore_404(
                    self.merge_patch,
                    self.apps.patch_namespaced_stateful_set_scale,
                    sc["name"],
                    sc["namespace"],
                    {"spec": {"replicas": sc["replicas"]}},
                )
            elif injection.kind in ("outage", "partition"):
                revert_isolation(self, undo)
            else:
                raise FaultError(f"{self.name} cannot revert a {injection.kind!r} injection")
        except (FaultError, Unsupported):
            raise
        except Exception as exc:
            raise FaultError(f"revert of {injection.id} failed: {exc}") from exc

    def _revert_from_plan(self, injection: Injection) -> None:
        """A fault whose harness died before the undo reached the ledger (the ledger rebuilt
        the Injection from the plan): reverted by kind and target alone."""
        from harness.platform.kubernetes import mesh
        from harness.platform.kubernetes.netpol import clear

        targets = [str(t) for t in injection.undo.get("targets") or [injection.target]]
        kind = injection.kind
        if kind == "drain":
            self.uncordon(self.resolve_node(targets[0]))
        elif kind == "spot_interrupt":
            if self.spot is None:
                raise Unsupported(self.name, "revert a spot interruption", "no spot backend")
            self.spot.revert_from_plan(self, self.resolve_node(targets[0]))
        elif kind == "mesh_fault":
            mesh.clear(self, targets[0])
        elif kind == "outage" and injection.params.get("mode", "stop") == "stop":
            w = self._dependency(targets[0])
            scale = self.call(self.apps.read_namespaced_stateful_set_scale, w.name, w.namespace)
            if not int(scale.get("spec", {}).get("replicas") or 0):
                # the count before is unknown: the chart runs one replica of each datastore
                body = {"spec": {"replicas": 1}}
                patch = self.apps.patch_namespaced_stateful_set_scale
                self.merge_patch(patch, w.name, w.namespace, body)
        elif kind == "outage":
            clear(self, self._dependency(targets[0]))
        elif kind == "partition":
            for side in targets:
                clear(self, self._workload(side))
        else:
            raise FaultError(f"{self.name} cannot revert a {kind!r} fault from its plan")

    # ------------------------------------------------------------------ data protection
    def backup(self, store: Store) -> str:
        """PostgreSQL in the cluster: ``pg_dump`` through ``kubectl exec`` (:mod:`.backup`)."""
        if store != "postgresql":
            raise Unsupported(
                self.name,
                f"back up {store}",
                "on Kubernetes only the in-cluster PostgreSQL is backed up by the harness; "
                "Redis persistence and S3 versioning belong to the cloud's own tools",
            )
        from harness.platform.kubernetes.backup import backup_postgresql

        return backup_postgresql(self)

    def restore(self, store: Store, backup_id: str) -> None:
        if store != "postgresql":
            raise Unsupported(
                self.name,
                f"restore {store}",
                "on Kubernetes only the in-cluster PostgreSQL is restored by the harness",
            )
        from harness.platform.kubernetes.backup import restore_postgresql

        restore_postgresql(self, backup_id)
