"""Run one scenario end to end: the game day (DESIGN.md "One run, as data").

    platform up (or reuse)  ->  requires?  ->  the phases (:mod:`msai.gameday.phases`):
    plan + guard every fault  ->  steady state before  ->  observers + fault scheduler (thread)
    + load (this thread)  ->  rollback everything  ->  steady state after  ->  fault proofs and
    gates  ->  verdict  ->  run record summary  ->  report

A scenario that needs what the platform lacks is *skipped* with the reason
(:class:`ScenarioSkipped`), before anything starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaos import Guard, Ledger, plan_timeline
from harness.errors import HarnessError
from harness.platform.base import Platform
from harness.probes import describe_probe
from harness.scenario import Scenario
from harness.settings import settings
from msai.gameday.load import load_duration, loadtests_runner
from msai.gameday.model import (
    GateEvaluator,
    LoadRunner,
    RunResult,
    ScenarioSkipped,
)
from msai.gameday.phases import GameDay, run_phases
from msai.gameday.requirements import check_requirements
from msai.gameday.stack import bring_up

__all__ = ["dry_run_plan", "run_scenario"]


def run_scenario(
    scenario: Scenario,
    *,
    platform: Platform | None = None,
    platform_name: str = "local",
    load_runner: LoadRunner | None = None,
    evaluate: GateEvaluator | None = None,
    runs_dir: Path | None = None,
    ledger: Ledger | None = None,
    report: bool | None = None,
    keep_up: bool = False,
    seed: int | None = None,
    echo: Callable[[str], None] | None = None,
) -> RunResult:
    """Run ``scenario``. With ``platform`` given it is reused as it is (already up); otherwise
    ``harness.platform.get_platform(platform_name)`` is brought up for the run and down after
    (unless ``keep_up``). Raises :class:`ScenarioSkipped`; every other problem is a verdict."""
    say = echo or (lambda _msg: None)
    name = platform.name if platform is not None else platform_name
    if name not in scenario.platforms and name != "fake":
        raise ScenarioSkipped(f"{scenario.name} runs on {scenario.platforms}, not {name}")
    owned = platform is None
    if platform is None:
        platform, owned = bring_up(scenario, platform_name, say)
    try:
        check_requirements(scenario, platform)
        day = GameDay(
            scenario,
            platform,
            _run_dir(runs_dir, scenario.name),
            load_runner=load_runner or loadtests_runner,
            evaluate=evaluate or _default_gates,
            ledger=ledger or Ledger(),
            seed=seed if seed is not None else int(scenario.load.get("seed", 1)),
            say=say,
        )
        result = run_phases(day)
        want = scenario.report.get("html", False) if report is None else report
        if want and result.verdict != "error" and result.run_dir is not None:
            result.report = _write_report(result.run_dir, scenario, result)
        return result
    finally:
        if owned and not keep_up:
            say(f"bringing the {name} stack down")
            platform.down()


def _default_gates(
    scenario: Scenario, run_dir: Path, context: dict[str, Any]
) -> list[dict[str, Any]]:
    """harness.gates, the one place gates are evaluated, over the run record on disk."""
    from harness.gates import evaluate_run

    context = {"run_folder": run_dir, **context}  # what the baseline gate compares
    return [
        v.to_json()
        for v in evaluate_run(scenario.expect, run_dir, source=scenario.source, **context)
    ]


def dry_run_plan(scenario: Scenario, platform: Platform | None = None) -> tuple[list[str], bool]:
    """The plan as printable lines, and whether every fault passes its guards. Starts nothing."""
    lines = [f"scenario {scenario.name} ({scenario.source})"]
    if scenario.profile:
        lines.append(f"  profile: {scenario.profile}")
    stack = scenario.stack
    where = ", ".join(scenario.platforms)
    lines.append(f"  platforms: {where}; stack profile {stack.get('profile', 'default')}")
    if scenario.requires:
        lines.append(f"  requires: {', '.join(scenario.requires)}")
    for probe in scenario.steady_state:
        lines.append(f"  steady state: {describe_probe(probe)}")
    load = scenario.load
    if load.get("shape", "none") == "none":
        lines.append("  load: none")
    else:
        lines.append(f"  load: {json.dumps(load, sort_keys=True)} ({load_duration(scenario):g}s)")
    planned = plan_timeline(scenario.faults, platform, Guard.from_settings())
    lines.append(f"  faults ({len(planned)}):")
    lines += [f"    {p.line()}" for p in planned]
    for gate in scenario.expect:
        lines.append(f"  expect: {json.dumps(gate, sort_keys=True)}")
    return lines, all(p.problem is None for p in planned)


def _run_dir(runs_dir: Path | None, name: str) -> Path:
    base = runs_dir or settings().runs_path
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = base / f"{stamp}-{name}"
    n = 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{name}-{n}"
    return path


def _write_report(run_dir: Path, scenario: Scenario, result: RunResult) -> Path | None:
    try:
        from reports import writer  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        result.reasons.append("no report: the reports package is not installed")
        return None
    write: Any = getattr(writer, "write_reports", None) or getattr(writer, "write_report", None)
    if write is None:
        result.reasons.append("no report: reports.writer has no write_report")
        return None
    try:
        out = write(run_dir, baseline=scenario.report.get("baseline"))
    except HarnessError as exc:
        result.reasons.append(f"no report: {exc}")
        return None
    return Path(out) if isinstance(out, (str, Path)) else run_dir / "report.html"
