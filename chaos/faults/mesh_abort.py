"""``mesh_abort``: the mesh answers ``percent`` % of a route's requests with ``status``
(default 503) instead of forwarding them (Envoy fault filter / Istio fault abort)."""

from __future__ import annotations

from typing import Any, ClassVar

from chaos.base import MeshFault
from harness.scenario import FaultEntry

__all__ = ["MeshAbort"]


class MeshAbort(MeshFault):
    kind: ClassVar[str] = "mesh_abort"

    def effect(self, entry: FaultEntry, route: str, percent: float) -> tuple[dict[str, Any], str]:
        status = int(entry.params.get("status", 503))
        return {
            "abort_status": status
        }, f"abort {percent:g}% of {route} requests with HTTP {status}"
