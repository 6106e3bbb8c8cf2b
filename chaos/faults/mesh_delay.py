"""``mesh_delay``: the mesh delays ``percent`` % of a route's requests by ``delay`` (Envoy's
fault filter locally, an Istio VirtualService fault block on Kubernetes).

Proof (after the run, from what clients measured): a delayed request takes at least ``delay``
more than it would have, so during the fault the latency percentile ``100 - percent / 2`` (a
request inside the delayed share) reaches ``delay``, and stands at least half the delay above
the same percentile before the fault (when the load ran before it). Nothing finished during
the fault: unobservable.
"""

from __future__ import annotations

from typing import Any, ClassVar

from chaos.base import FaultPlan, MeshFault, ProbeResult, param_duration
from harness.gates import GateContext, Window
from harness.latency import merge_histograms
from harness.scenario import FaultEntry

__all__ = ["MeshDelay"]


def _percentile_ms(ctx: GateContext, route: str, window: Window, q: float) -> float | None:
    hists = [b["histogram"] for b in ctx.load_buckets(route, window) if b.get("histogram")]
    hist = merge_histograms(hists)
    if hist.get_total_count() == 0:
        return None
    return float(hist.get_value_at_percentile(q)) / 1000.0


class MeshDelay(MeshFault):
    kind: ClassVar[str] = "mesh_delay"

    def effect(self, entry: FaultEntry, route: str, percent: float) -> tuple[dict[str, Any], str]:
        delay_ms = param_duration(entry, "delay") * 1000.0
        return {"delay_ms": delay_ms}, f"delay {percent:g}% of {route} requests by {delay_ms:g} ms"

    def prove(self, plan: FaultPlan, window: Window, ctx: GateContext) -> ProbeResult:
        route, delay_ms = plan.targets[0], float(plan.params["delay_ms"])
        q = 100.0 - float(plan.params["percent"]) / 2.0
        during = _percentile_ms(ctx, route, window, q)
        before = _percentile_ms(ctx, route, Window(0.0, window.start), q) if window.start else None
        where = f"{route} seconds {window.start:g}-{window.end}"
        if during is None:
            return ProbeResult.unobservable(f"no {route} request finished during {where}")
        added = during - (before or 0.0)
        measurement = {"name": "delay_added_ms", "value": round(added, 1), "unit": "ms"}
        figures = (
            f"{route} p{q:g} {during:.0f} ms during {where}"
            + (f" ({before:.0f} ms before)" if before is not None else "")
            + f", delay {delay_ms:g} ms"
        )
        seen = during >= delay_ms and (before is None or added >= delay_ms / 2.0)
        return ProbeResult(seen, figures, [measurement])
