"""Mesh faults: an Istio VirtualService ``fault`` block on every HTTP route named for the
target (the gateway's route and the service's own mesh route), and its exact undo.

The undo is each patched VirtualService's previous ``spec.http`` (lists are replaced whole by a
JSON merge patch), so a later process restores it from the Injection alone.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.platform.kubernetes.platform import KubernetesPlatform

__all__ = ["ISTIO", "clear", "fault_block", "inject", "restore", "virtualservices"]

ISTIO = ("networking.istio.io", "v1", "virtualservices")


def fault_block(delay_ms: float | None, abort_status: int | None, percent: float) -> dict[str, Any]:
    """Istio's ``HTTPFaultInjection`` for these parameters (ConfigError naming a bad one)."""
    if delay_ms is None and abort_status is None:
        raise ConfigError("a mesh fault needs delay_ms or abort_status", field="params")
    if not 0 < percent <= 100:
        raise ConfigError(f"percent must be in (0, 100], got {percent}", field="percent")
    if abort_status is not None and not 200 <= abort_status <= 599:
        raise ConfigError(f"abort status {abort_status} is not HTTP", field="abort_status")
    if delay_ms is not None and delay_ms < 0:
        raise ConfigError(f"delay must be >= 0, got {delay_ms}", field="delay")
    fault: dict[str, Any] = {}
    if delay_ms is not None:
        fault["delay"] = {"percentage": {"value": percent}, "fixedDelay": f"{delay_ms / 1000:.3f}s"}
    if abort_status is not None:
        fault["abort"] = {"percentage": {"value": percent}, "httpStatus": abort_status}
    return fault


def virtualservices(platform: KubernetesPlatform) -> Iterator[dict[str, Any]]:
    group, version, plural = ISTIO
    for ns in platform.settings.namespaces:
        data = platform.call(
            platform.custom.list_namespaced_custom_object, group, version, ns, plural
        )
        yield from data.get("items", [])


def inject(platform: KubernetesPlatform, route: str, fault: dict[str, Any]) -> list[dict[str, Any]]:
    """Patch ``fault`` into every HTTP route named ``route``; returns the undo list. A failure
    midway restores what was already patched before it raises."""
    group, version, plural = ISTIO
    patched: list[dict[str, Any]] = []
    try:
        for vs in virtualservices(platform):
            http = vs.get("spec", {}).get("http") or []
            if not any(h.get("name") == route for h in http):
                continue
            new = copy.deepcopy(http)
            for h in new:
                if h.get("name") == route:
                    h["fault"] = fault
            ns, name = vs["metadata"]["namespace"], vs["metadata"]["name"]
            patched.append({"namespace": ns, "name": name, "http": http})
            platform.merge_patch(
                platform.custom.patch_namespaced_custom_object,
                group,
                version,
                ns,
                plural,
                name,
                {"spec": {"http": new}},
            )
    except BaseException:
        # the failed one too: a timed-out patch may have landed; each restore is tried
        for vs in patched:
            with contextlib.suppress(Exception):
                restore(platform, [vs])
        raise
    if not patched:
        raise ConfigError(f"no VirtualService has an http route named {route!r}", field="route")
    return patched


def restore(platform: KubernetesPlatform, patched: list[dict[str, Any]]) -> None:
    group, version, plural = ISTIO
    for vs in patched:
        platform.ignore_404(
            platform.merge_patch,
            platform.custom.patch_namespaced_custom_object,
            group,
            version,
            vs["namespace"],
            plural,
            vs["name"],
            {"spec": {"http": vs["http"]}},
        )


def clear(platform: KubernetesPlatform, route: str) -> None:
    """Remove the fault block from every HTTP route named ``route``: the revert of a fault
    whose harness died before its undo reached the ledger (the chart itself sets none)."""
    group, version, plural = ISTIO
    for vs in virtualservices(platform):
        http = vs.get("spec", {}).get("http") or []
        if not any(h.get("name") == route and "fault" in h for h in http):
            continue
        new = [
            {k: v for k, v in h.items() if not (k == "fault" and h.get("name") == route)}
            for h in http
        ]
        platform.merge_patch(
            platform.custom.patch_namespaced_custom_object,
            group,
            version,
            vs["metadata"]["namespace"],
            plural,
            vs["metadata"]["name"],
            {"spec": {"http": new}},
        )
