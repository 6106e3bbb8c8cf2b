"""The machine-readable report (``report.json``): the run's verdict, gates, load, faults,
alerts and measurements, plus the baseline comparison. Versioned by ``report_schema``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from reports.compare import Comparison
from reports.model import RunData

__all__ = ["REPORT_SCHEMA", "render_json_data"]

REPORT_SCHEMA = 1


def render_json_data(run: RunData, comparison: Comparison | None = None) -> dict[str, Any]:
    return {
        "report_schema": REPORT_SCHEMA,
        "run_id": run.run_id,
        "directory": str(run.directory),
        "scenario": run.scenario,
        "platform": run.platform,
        "seed": run.seed,
        "synthetic": run.synthetic,
        "partial": run.partial,
        "verdict": run.verdict,
        "error": run.error,
        "started": run.started,
        "duration_s": run.duration_s,
        "gates": [asdict(g) for g in run.gates],
        "load": [asdict(s) | {"histogram": None} for s in run.summaries],
        "faults": [asdict(f) | {"open": f.open} for f in run.faults],
        "alerts": [asdict(a) for a in run.alerts],
        "measurements": [asdict(m) for m in run.measurements],
        "comparison": comparison.as_dict() if comparison is not None else None,
    }
