"""Regression as a gate: a run compared with a named baseline.

``msai baseline save NAME [RUN_DIR]`` stores a run (the latest under the runs folder by
default) as ``<MSAI_HOME>/baselines/NAME.json`` (:func:`reports.baseline.save_baseline`). A
scenario gates against it::

    - {gate: baseline, name: NAME, route: ner, metric: p50_ms, threshold: 0.05}

The change ``current / baseline - 1`` of ``metric`` (``p50_ms``, ``p95_ms``, ``p99_ms``,
``throughput_rps``, ``error_ratio``) gets the seeded block-bootstrap interval of
:func:`reports.compare.compare_runs`. In the bad direction (latency or errors up, throughput
down): the whole interval beyond ``threshold`` fails; the whole interval short of it passes
(no change that matters, a rerun of the same build); an interval that straddles the threshold,
or no interval (too few samples), is inconclusive.

The gate is the engine's: it needs :mod:`reports`, which the harness core below it must not
import, so :mod:`msai.gameday` registers it with :func:`harness.gates.register_gate`, and the
game day hands it the run's folder (``run_folder`` in the gate context).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from harness.errors import ConfigError, HarnessError
from harness.gates import GateContext, SpecLocation, Verdict, VerdictName, register_gate
from harness.settings import settings

__all__ = ["BaselineGate", "baseline", "baseline_path", "register", "save"]

_METRICS = {"p50_ms": 1, "p95_ms": 1, "p99_ms": 1, "error_ratio": 1, "throughput_rps": -1}


def baseline_path(name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"a baseline name is a plain file name, got {name!r}", field="name")
    return settings().home_path / "baselines" / f"{name}.json"


def save(name: str, run_dir: Path | None = None) -> Path:
    """Store ``run_dir`` (default: the newest run record) as the baseline ``name``."""
    from reports.baseline import save_baseline
    from reports.model import load_run

    if run_dir is None:
        runs = sorted((p for p in settings().runs_path.glob("*") if p.is_dir()), key=_mtime)
        if not runs:
            raise ConfigError(f"no run record under {settings().runs_path} to save")
        run_dir = runs[-1]
    return save_baseline(load_run(run_dir), baseline_path(name))


def _mtime(p: Path) -> float:
    return p.stat().st_mtime


@dataclass(frozen=True)
class BaselineGate:
    baseline: str
    route: str
    metric: str
    threshold: float
    kind: str = "baseline"

    @property
    def name(self) -> str:
        return f"baseline[{self.baseline} {self.route} {self.metric}]"

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], where: SpecLocation) -> BaselineGate:
        where.check_keys(spec, {"name", "route", "metric", "threshold"})
        if not isinstance(spec.get("name"), str):
            raise where.error("needs 'name' (of a baseline saved by msai baseline save)", "name")
        metric = str(spec.get("metric", "p99_ms"))
        if metric not in _METRICS:
            raise where.error(f"metric is one of {sorted(_METRICS)}, got {metric!r}", "metric")
        threshold = where.number(spec, "threshold") if "threshold" in spec else 0.05
        return cls(str(spec["name"]), str(spec.get("route", "all")), metric, threshold)

    def evaluate(self, ctx: GateContext) -> Verdict:
        from reports.baseline import load_comparable
        from reports.compare import compare_runs
        from reports.model import load_run

        expected = {"baseline": self.baseline, "metric": self.metric, "threshold": self.threshold}
        run_dir = ctx.context.get("run_folder")
        if run_dir is None:
            return self._no("no run folder to compare (the gate runs inside a game day)")
        try:
            base = load_comparable(baseline_path(self.baseline))
            comparison = compare_runs(load_run(Path(run_dir)), base, threshold=self.threshold)
        except HarnessError as exc:
            return self._no(f"{type(exc).__name__}: {exc}")
        found = [m for m in comparison.metrics if (m.route, m.metric) == (self.route, self.metric)]
        if not found:
            return self._no(f"no {self.metric} of route {self.route} in both runs")
        m = found[0]
        observed = {
            "baseline": m.baseline,
            "current": m.current,
            "change": m.change,
            "interval": [m.ci_low, m.ci_high],
        }
        evidence = {"method": m.method, "detail": m.detail, "compare_label": m.label}
        if m.ci_low is None or m.ci_high is None:
            return Verdict(self.name, self.kind, "inconclusive", expected, observed, evidence)
        sign = _METRICS[self.metric]  # +1: up is worse; -1: down is worse
        worse = sorted((sign * m.ci_low, sign * m.ci_high))
        verdict: VerdictName
        if worse[0] > self.threshold:
            verdict = "fail"
        elif worse[1] < self.threshold:
            verdict = "pass"
        else:
            verdict = "inconclusive"
        return Verdict(self.name, self.kind, verdict, expected, observed, evidence)

    def _no(self, why: str) -> Verdict:
        expected = {"baseline": self.baseline, "metric": self.metric, "threshold": self.threshold}
        return Verdict(self.name, self.kind, "inconclusive", expected, {}, {"why": why})


def register() -> None:
    register_gate("baseline", BaselineGate.from_spec, replace=True)


@click.group(name="baseline")
def baseline() -> None:
    """Named baselines that scenarios gate against ({gate: baseline, name: NAME})."""


@baseline.command(name="save")
@click.argument("name")
@click.argument("run_dir", required=False, type=click.Path(path_type=Path))
def _save(name: str, run_dir: Path | None) -> None:
    """Store RUN_DIR (default: the newest run record) as the baseline NAME.

    A missing RUN_DIR is an error naming it (exit 4), as a malformed record is."""
    if run_dir is not None and not run_dir.is_dir():
        raise ConfigError("no such run record folder", source=str(run_dir))
    click.echo(f"baseline {name}: {save(name, run_dir)}")
