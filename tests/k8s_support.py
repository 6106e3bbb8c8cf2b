"""Shared by tests/test_k8s_*.py: a kmock API server seeded with what the chart renders.

The workloads, PodDisruptionBudgets, HPAs, VirtualServices and NetworkPolicies are the chart's
own objects (rendered by Helm's engine, tests/chart_support.py), so the platform is tested
against the names and shapes it will meet on a cluster. Nodes follow values.yaml ``nodes``;
pods are placed by hand (no scheduler in a mock).
"""

from __future__ import annotations

import copy
from typing import Any

from chart_support import render_env

from harness.platform.kubernetes.platform import KubernetesPlatform
from harness.platform.kubernetes.settings import KubernetesSettings
from harness.platform.kubernetes.testing import api_client, serve_evictions

RESOURCES = {
    "Deployment": "apps/v1/deployments",
    "StatefulSet": "apps/v1/statefulsets",
    "PodDisruptionBudget": "policy/v1/poddisruptionbudgets",
    "HorizontalPodAutoscaler": "autoscaling/v2/horizontalpodautoscalers",
    "VirtualService": "networking.istio.io/v1/virtualservices",
    "NetworkPolicy": "networking.k8s.io/v1/networkpolicies",
    "ScaledObject": "keda.sh/v1alpha1/scaledobjects",
    "Service": "v1/services",
}

NODES = {
    "general-a": {"node-group": "general", "capacity-type": "on-demand"},
    "general-b": {"node-group": "general", "capacity-type": "on-demand"},
    "spot-a": {"node-group": "spot", "capacity-type": "spot"},
}

#: pod -> (workload, namespace, node, ready)
PODS = {
    "ner-0": ("ner", "ai-models", "general-a", True),
    "ner-1": ("ner", "ai-models", "spot-a", True),
    "vision-0": ("vision", "ai-models", "general-b", True),
    "vision-1": ("vision", "ai-models", "spot-a", True),
    "orchestrator-0": ("orchestrator", "pipeline-orchestrator", "general-a", True),
    "redis-0": ("redis", "pipeline-orchestrator", "general-b", True),
    "postgresql-0": ("postgresql", "pipeline-orchestrator", "general-b", True),
}


def chart_objects() -> list[dict[str, Any]]:
    return [copy.deepcopy(o) for o in render_env("default") if o["kind"] in RESOURCES]


def seed(server: Any, *, instance_ids: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Fill ``server`` with the chart's objects, nodes and pods; returns the chart objects."""
    objs = chart_objects()
    templates: dict[str, dict[str, Any]] = {}
    for original in objs:
        obj = copy.deepcopy(original)
        meta = obj["metadata"]
        if obj["kind"] in ("Deployment", "StatefulSet"):
            templates[meta["name"]] = obj["spec"]["template"]["metadata"]
            replicas = sum(1 for w, *_ in PODS.values() if w == meta["name"])
            obj["spec"]["replicas"] = replicas
            obj["status"] = {
                "replicas": replicas,
                "readyReplicas": replicas,
                "updatedReplicas": replicas,
            }
        if obj["kind"] == "HorizontalPodAutoscaler":
            obj["status"] = {"currentReplicas": 2, "desiredReplicas": 2}
        server.objects[RESOURCES[obj["kind"]], meta.get("namespace"), meta["name"]] = obj
    for kind in ("ScaledObject", "StatefulSet", "Service"):
        server.resources[RESOURCES[kind]] = {}
    for name, labels in NODES.items():
        spec: dict[str, Any] = {}
        if instance_ids and name in instance_ids:
            spec["providerID"] = f"aws:///us-east-1a/{instance_ids[name]}"
        server.objects["v1/nodes", None, name] = {
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": spec,
        }
    for pod, (workload, ns, node, ready) in PODS.items():
        tpl = templates[workload]
        server.objects["v1/pods", ns, pod] = {
            "metadata": {"name": pod, "namespace": ns, "labels": dict(tpl.get("labels") or {})},
            "spec": {"nodeName": node},
            "status": {
                "podIP": f"10.0.0.{list(PODS).index(pod) + 10}",
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            },
        }
    serve_evictions(server)
    return objs


def platform_for(server: Any, name: str = "kind", **settings: Any) -> KubernetesPlatform:
    """A platform on a fresh API client to ``server`` (as a later process would build it)."""
    spot = settings.pop("spot", None)
    s = KubernetesSettings(
        gateway_url="http://gateway.test",
        prometheus_url="http://prometheus.test",
        alertmanager_url="http://alertmanager.test",
        drain_timeout_s=settings.pop("drain_timeout_s", 5.0),
        eviction_retry_s=settings.pop("eviction_retry_s", 0.05),
        **settings,
    )
    return KubernetesPlatform(name, api=api_client(server), settings=s, spot=spot)


def obj(server: Any, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
    """The stored object as plain JSON."""
    return dict(server.objects[RESOURCES.get(kind, kind), namespace, name].raw)
