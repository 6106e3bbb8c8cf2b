"""Baseline files: the part of a run that a comparison needs (per-second load buckets and
the load summaries with their HDR histograms), in one JSON file that can live in the repo
(e.g. ``reports/baselines/<scenario>.json``, as a scenario's ``report.baseline`` names it).

``msai report RUN --save-baseline FILE`` writes one; ``--baseline`` takes a file or a run
directory. Comparing against the file gives the same result as against the run it came from.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.errors import RecordError
from reports.atomic import atomic_write
from reports.model import RunData, bucket_from_fields, load_run, summary_from_fields

__all__ = ["BASELINE_SCHEMA", "load_baseline", "load_comparable", "save_baseline"]

BASELINE_SCHEMA = 1


def save_baseline(run: RunData, path: Path) -> Path:
    if run.partial:
        raise RecordError(str(run.directory), "partial record (no summary.json): not a baseline")
    body = {
        "baseline_schema": BASELINE_SCHEMA,
        "run_id": run.run_id,
        "scenario": run.scenario,
        "platform": run.platform,
        "seed": run.seed,
        "started": run.started,
        "duration_s": run.duration_s,
        "verdict": run.verdict,
        "synthetic": run.synthetic,
        "saved_from": str(run.directory),
        "buckets": [asdict(b) for b in run.buckets],
        "summaries": [asdict(s) for s in run.summaries],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, json.dumps(body, indent=1) + "\n")


def load_baseline(path: Path) -> RunData:
    src = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(src, "no such baseline file") from None
    except json.JSONDecodeError as exc:
        raise RecordError(src, f"not JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise RecordError(src, "a baseline file holds a JSON object")
    version = data.get("baseline_schema")
    if version != BASELINE_SCHEMA:
        raise RecordError(src, f"baseline_schema {version!r}, this msai reads {BASELINE_SCHEMA}")
    for key in ("run_id", "scenario", "platform", "started", "buckets", "summaries"):
        if key not in data:
            raise RecordError(src, f"missing {key!r}")
    buckets = [
        bucket_from_fields(_obj(b, f"{src} [buckets.{i}]"), f"{src} [buckets.{i}]")
        for i, b in enumerate(_list(data["buckets"], f"{src} [buckets]"))
    ]
    summaries = [
        summary_from_fields(_obj(x, f"{src} [summaries.{i}]"), f"{src} [summaries.{i}]")
        for i, x in enumerate(_list(data["summaries"], f"{src} [summaries]"))
    ]
    return RunData(
        directory=path,
        run_id=str(data["run_id"]),
        partial=False,
        verdict=str(data.get("verdict", "pass")),
        started=float(data["started"]),
        duration_s=float(data.get("duration_s", 0.0)),
        scenario=str(data["scenario"]),
        platform=str(data["platform"]),
        seed=data["seed"] if isinstance(data.get("seed"), int) else None,
        env={"synthetic": bool(data.get("synthetic"))},
        spec=None,
        summary=None,
        error=None,
        buckets=buckets,
        summaries=summaries,
    )


def load_comparable(path: Path) -> RunData:
    """A run directory or a baseline file."""
    if path.is_file():
        return load_baseline(path)
    return load_run(path)


def _obj(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RecordError(where, "not an object")
    return raw


def _list(raw: Any, where: str) -> list[Any]:
    if not isinstance(raw, list):
        raise RecordError(where, "not a list")
    return raw
