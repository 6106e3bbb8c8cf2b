"""NetworkPolicy arithmetic for outages and partitions.

NetworkPolicies only ever allow: a "deny" policy added beside the chart's allow policies would
change nothing, because traffic any policy admits is admitted. So cutting ingress to a workload
takes two steps, both recorded for the revert:

1. narrow every allow policy that selects the workload so it no longer does
   (``app.kubernetes.io/name NotIn [workload]`` added to its pod selector), and
2. create one policy of our own for the workload: no ingress at all (an outage), or the narrowed
   policies' ingress rules with the other side of a partition excluded from every peer.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.platform.kubernetes.platform import KubernetesPlatform, Workload

__all__ = [
    "MANAGED",
    "NAME_LABEL",
    "clear",
    "exclude_from_peers",
    "isolate",
    "narrowed_selector",
    "revert_isolation",
    "selects",
]

MANAGED = {"app.kubernetes.io/managed-by": "msai"}

NAME_LABEL = "app.kubernetes.io/name"


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector matches ``labels`` (an empty selector matches everything)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _not_in(name: str) -> dict[str, Any]:
    return {"key": NAME_LABEL, "operator": "NotIn", "values": [name]}


def narrowed_selector(selector: dict[str, Any] | None, name: str) -> dict[str, Any]:
    """``selector`` that no longer selects the workload called ``name``."""
    out = copy.deepcopy(selector or {})
    out["matchExpressions"] = [*(out.get("matchExpressions") or []), _not_in(name)]
    return out


def exclude_from_peers(rules: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Ingress rules admitting what ``rules`` admit, except pods of the workload ``name``.
    A peer with only a namespace selector gets a pod selector (both must then match); an
    ipBlock peer is kept as it is (pod traffic inside the cluster never matches one)."""
    out: list[dict[str, Any]] = []
    for rule in rules:
        new = copy.deepcopy(rule)
        peers = new.get("from")
        if not peers:  # no `from`: any source; say "any pod in any namespace, except ..."
            peers = [{"namespaceSelector": {}, "podSelector": {}}]
        for peer in peers:
            if "ipBlock" in peer:
                continue
            peer["podSelector"] = narrowed_selector(peer.get("podSelector"), name)
        new["from"] = peers
        out.append(new)
    return out


def isolate(
    platform: KubernetesPlatform,
    target: Workload,
    exclude: Workload | None,
    injection_id: str,
    into: dict[str, Any],
) -> None:
    """Cut ingress to ``target`` (from everything, or only from ``exclude``); see
    :mod:`.netpol`. Appends what it does to ``into`` before doing it (a partial failure
    reverts cleanly)."""
    undo = into
    ns = target.namespace
    policies = platform.call(platform.networking.list_namespaced_network_policy, ns).get(
        "items", []
    )
    allowing = [
        p
        for p in policies
        if (p["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") != "msai"
        and p.get("spec", {}).get("ingress")
        and "Ingress" in (p.get("spec", {}).get("policyTypes") or ["Ingress"])
        and selects(p.get("spec", {}).get("podSelector"), target.labels)
    ]
    rules: list[dict[str, Any]] = []
    if exclude is not None:
        for p in allowing:
            rules += exclude_from_peers(p["spec"]["ingress"], exclude.app)
    name = f"{injection_id}-{target.app}"  # e.g. partition-1a2b3c4d-ner
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": dict(MANAGED),
            "annotations": {"msai.dev/injection": injection_id},
        },
        "spec": {
            "podSelector": {"matchLabels": {NAME_LABEL: target.app}},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }
    undo["created"].append({"namespace": ns, "name": name})
    platform.call(platform.networking.create_namespaced_network_policy, ns, body)
    for p in allowing:
        pname = p["metadata"]["name"]
        prev = p["spec"].get("podSelector") or {}
        undo["narrowed"].append({"namespace": ns, "name": pname, "podSelector": prev})
        new = narrowed_selector(prev, target.app)
        platform.merge_patch(
            platform.networking.patch_namespaced_network_policy,
            pname,
            ns,
            {"spec": {"podSelector": new}},
        )


def revert_isolation(platform: KubernetesPlatform, undo: dict[str, Any]) -> None:
    """Restore the narrowed policies, then delete ours (traffic is never cut more than the
    fault did). Every step is tried; the first failure is raised after the rest ran."""
    steps: list[tuple[Any, ...]] = []
    for item in undo.get("narrowed", []):
        prev = item["podSelector"]
        sel = {
            "matchLabels": prev.get("matchLabels"),
            "matchExpressions": prev.get("matchExpressions"),
        }
        patch = platform.networking.patch_namespaced_network_policy
        steps.append((platform.merge_patch, patch, item["name"], item["namespace"],
                      {"spec": {"podSelector": sel}}))  # fmt: skip
    for item in undo.get("created", []):
        delete = platform.networking.delete_namespaced_network_policy
        steps.append((platform.call, delete, item["name"], item["namespace"]))
    failures: list[Exception] = []
    for step in steps:
        try:
            platform.ignore_404(*step)
        except Exception as exc:  # keep restoring the rest
            failures.append(exc)
    if failures:
        raise failures[0]


def clear(platform: KubernetesPlatform, target: Workload) -> None:
    """Undo every isolation of ``target`` without undo data (a harness died mid-inject): delete
    our policies selecting it, drop the ``NotIn [target]`` we added to the others."""
    ns = target.namespace
    listing = platform.call(platform.networking.list_namespaced_network_policy, ns)
    for p in listing.get("items", []):
        name = p["metadata"]["name"]
        selector = p.get("spec", {}).get("podSelector") or {}
        ours = (p["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by") == "msai"
        if ours and (selector.get("matchLabels") or {}).get(NAME_LABEL) == target.app:
            platform.ignore_404(
                platform.call, platform.networking.delete_namespaced_network_policy, name, ns
            )
            continue
        exprs = selector.get("matchExpressions") or []
        kept = [e for e in exprs if e != _not_in(target.app)]
        if len(kept) != len(exprs):
            platform.ignore_404(
                platform.merge_patch,
                platform.networking.patch_namespaced_network_policy,
                name,
                ns,
                {"spec": {"podSelector": {"matchExpressions": kept or None}}},
            )
