"""What contract tests need around kmock (PyPI ``kmock``, a Kubernetes API mock server).

kmock stores objects and serves list/get/patch/delete/watch like an API server. It does not
know the Eviction subresource, so :func:`serve_evictions` adds it with the server's rules:
a PodDisruptionBudget that would drop below ``minAvailable`` (or above ``maxUnavailable``)
answers 429 TooManyRequests, anything else deletes the pod and answers 201 Success.

Used by ``tests/test_k8s_*.py`` only (kmock is a dev dependency).
"""

from __future__ import annotations

import math
from typing import Any

import kmock

__all__ = ["api_client", "find", "mutations", "serve_evictions"]


def api_client(server: Any) -> Any:
    """A ``kubernetes.client.ApiClient`` that talks to the kmock ``server``."""
    from kubernetes import client

    cfg = client.Configuration(host=str(server.url).rstrip("/"))
    return client.ApiClient(cfg)


def find(server: Any, plural: str, namespace: str | None, name: str) -> Any:
    """The live stored object, or None (absent or deleted)."""
    for (res, ns, n), obj in server.objects.items():
        if res.plural == plural and ns == namespace and n == name and not obj.deleted:
            return obj
    return None


def _budget_allows(server: Any, namespace: str, pod: dict[str, Any]) -> bool:
    labels = pod.get("metadata", {}).get("labels") or {}
    pods = [
        obj
        for (res, ns, _), obj in server.objects.items()
        if res.plural == "pods" and ns == namespace and not obj.deleted
    ]
    for (res, ns, _), pdb in list(server.objects.items()):
        if res.plural != "poddisruptionbudgets" or ns != namespace or pdb.deleted:
            continue
        sel = (pdb.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
        if not all(labels.get(k) == v for k, v in sel.items()):
            continue
        covered = [
            p
            for p in pods
            if all((p.get("metadata", {}).get("labels") or {}).get(k) == v for k, v in sel.items())
        ]
        healthy = sum(
            1
            for p in covered
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (p.get("status", {}).get("conditions") or [])
            )
        )
        spec = pdb.get("spec", {})
        if "minAvailable" in spec:
            need = _count(spec["minAvailable"], len(covered))
            if healthy - 1 < need:
                return False
        if "maxUnavailable" in spec:
            most = _count(spec["maxUnavailable"], len(covered))
            if len(covered) - (healthy - 1) > most:
                return False
    return True


def _count(value: int | str, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(total * float(value[:-1]) / 100)
    return int(value)


def serve_evictions(server: Any) -> None:
    """Serve ``POST .../pods/NAME/eviction`` with PodDisruptionBudget checks."""

    def evict(request: Any) -> dict[str, Any]:
        pod = find(server, "pods", request.namespace, request.name)
        if pod is None:
            raise kmock.KubernetesError(status=404, reason="NotFound", message="pod not found")
        if not _budget_allows(server, request.namespace, pod):
            raise kmock.KubernetesError(
                status=429,
                reason="TooManyRequests",
                message="Cannot evict pod as it would violate the pod's disruption budget.",
            )
        pod.delete()
        return {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}

    server["post", kmock.resource("v1/pods"), kmock.subresource("eviction")] << evict


def mutations(server: Any, since: int = 0) -> list[tuple[str, str, Any]]:
    """Every non-GET request from index ``since``: (METHOD, path?query, JSON body)."""
    out = []
    for req in list(server)[since:]:
        method = str(getattr(req.method, "value", req.method)).upper()
        if method == "GET":
            continue
        out.append((method, req.url.path_qs, req.data))
    return out
