"""``mesh_abort``: the mesh answers ``percent`` % of a route's requests with ``status``
(default 503) instead of forwarding them (Envoy fault filter / Istio fault abort).

Proof (after the run, from what clients got): the route's responses with ``status`` during the
fault make up about ``percent`` % of those that finished, within four binomial standard
deviations, and at least one was seen. Too few requests to tell is unobservable.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from chaos.base import FaultPlan, MeshFault, ProbeResult, finished
from harness.gates import GateContext, Window
from harness.scenario import FaultEntry

__all__ = ["MeshAbort"]

# how far the observed count may stray from the expected one, in binomial standard deviations
_SIGMAS = 4.0
# a count of zero is proof of absence only when the chance of it under the fault is below this
_ZERO_CHANCE = 0.01


class MeshAbort(MeshFault):
    kind: ClassVar[str] = "mesh_abort"

    def effect(self, entry: FaultEntry, route: str, percent: float) -> tuple[dict[str, Any], str]:
        status = int(entry.params.get("status", 503))
        return {
            "abort_status": status
        }, f"abort {percent:g}% of {route} requests with HTTP {status}"

    def prove(self, plan: FaultPlan, window: Window, ctx: GateContext) -> ProbeResult:
        route, status = plan.targets[0], int(plan.params["abort_status"])
        share = float(plan.params["percent"]) / 100.0
        buckets = ctx.load_buckets(route, window)
        n = sum(finished(b) for b in buckets)
        k = sum(int(dict(b.get("errors") or {}).get(f"http_{status}", 0)) for b in buckets)
        where = f"{route} seconds {window.start:g}-{window.end}"
        if n == 0:
            return ProbeResult.unobservable(f"no {route} request finished during {where}")
        expected = n * share
        sigma = math.sqrt(n * share * (1.0 - share))
        figures = f"{k} of {n} answered HTTP {status} ({k / n:.1%}, configured {share:.0%})"
        measurement = {"name": "abort_share", "value": round(k / n, 4), "unit": "ratio"}
        if k == 0 and (1.0 - share) ** n > _ZERO_CHANCE:
            return ProbeResult(False, f"{figures}: too few requests to tell", [measurement], False)
        if k == 0 or abs(k - expected) > _SIGMAS * max(sigma, 1.0):
            return ProbeResult(False, f"{figures} during {where}", [measurement])
        return ProbeResult(True, f"{figures} during {where}", [measurement])
