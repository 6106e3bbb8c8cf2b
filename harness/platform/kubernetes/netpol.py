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
from typing import Any

__all__ = ["NAME_LABEL", "exclude_from_peers", "narrowed_selector", "selects"]

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
