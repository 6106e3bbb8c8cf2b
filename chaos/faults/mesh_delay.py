"""``mesh_delay``: the mesh delays ``percent`` % of a route's requests by ``delay`` (Envoy's
fault filter locally, an Istio VirtualService fault block on Kubernetes)."""

from __future__ import annotations

from typing import Any, ClassVar

from chaos.base import MeshFault, param_duration
from harness.scenario import FaultEntry

__all__ = ["MeshDelay"]


class MeshDelay(MeshFault):
    kind: ClassVar[str] = "mesh_delay"

    def effect(self, entry: FaultEntry, route: str, percent: float) -> tuple[dict[str, Any], str]:
        delay_ms = param_duration(entry, "delay") * 1000.0
        return {"delay_ms": delay_ms}, f"delay {percent:g}% of {route} requests by {delay_ms:g} ms"
