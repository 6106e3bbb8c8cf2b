"""Run one scenario end to end: the game day (DESIGN.md "One run, as data").

    platform up (or reuse)  ->  requires?  ->  plan + guard every fault  ->  steady state before
    -> observers + fault scheduler (thread) + load (this thread)  ->  rollback everything
    -> steady state after  ->  gates  ->  verdict  ->  run record summary  ->  report

Verdicts: ``error`` (the experiment could not be carried out: bad file, guard refusal, a
fault that would not inject or roll back, a crash) beats ``fail`` (a gate failed, or the
steady state did not come back) beats ``inconclusive`` (the system was not steady before the
faults, or a gate had no data) beats ``pass``. A scenario that needs what the platform lacks
is *skipped* with the reason (:class:`ScenarioSkipped`), before anything starts.

Rollback is guaranteed the same way chaostoolkit does it: in ``finally``, with SIGTERM/SIGHUP
turned into exceptions (:func:`chaos.rollback_on_signals`) and signals held off while the
rollback runs; a SIGKILLed harness is cleaned up by the next ``msai`` command (the ledger).

``msai run FILE...`` is the command; the pytest plugin calls :func:`run_scenario` too.
"""

from __future__ import annotations

import json
import os
import platform as _host
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from chaos import (
    FaultScheduler,
    Guard,
    Interrupted,
    Ledger,
    plan_timeline,
    rollback_on_signals,
    shielded,
)
from harness.errors import ConfigError, GuardViolation, HarnessError, Unsupported
from harness.observers import (
    AlertObserver,
    MonitoringObserver,
    Observer,
    ObserverLoop,
    PlatformEventObserver,
    ProbeObserver,
    QueryObserver,
    ReplicaObserver,
)
from harness.platform.base import Endpoint, Platform, StackSpec
from harness.probes import ProbeOutcome, describe_probe, run_probe, wait_for
from harness.record import RunRecord
from harness.scenario import Scenario, load_scenario, parse_duration
from harness.settings import settings

__all__ = [
    "EXIT_CODES",
    "GateEvaluator",
    "LoadRequest",
    "LoadRunner",
    "RunResult",
    "ScenarioSkipped",
    "check_requirements",
    "check_static_requirements",
    "dry_run_plan",
    "run",
    "run_scenario",
    "worst",
]

EXIT_CODES = {"pass": 0, "fail": 1, "inconclusive": 2, "error": 4}
_RANK = {"pass": 0, "inconclusive": 1, "fail": 2, "error": 3}
_AFTER_TIMEOUT_S = 30.0


class ScenarioSkipped(Exception):
    """The scenario cannot run here (platform not listed, a required feature missing)."""


@dataclass(frozen=True)
class LoadRequest:
    """What a load runner gets: the scenario's ``load:`` block and where to send it."""

    spec: dict[str, Any]
    endpoints: dict[str, Endpoint]
    record: RunRecord
    seed: int
    stop: threading.Event
    platform: Platform
    source: str


LoadRunner = Callable[[LoadRequest], None]
GateEvaluator = Callable[[Scenario, Path, dict[str, Any]], list[dict[str, Any]]]


@dataclass
class RunResult:
    scenario: str
    verdict: str
    run_dir: Path | None
    reasons: list[str] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    report: Path | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def explain(self) -> str:
        lines = [f"{self.scenario}: {self.verdict.upper()}"]
        lines += [f"  - {r}" for r in self.reasons]
        for g in self.gates:
            lines.append(
                f"  gate {g.get('gate')}: {g.get('verdict')} (expected {g.get('expected')}, "
                f"observed {g.get('observed')})"
            )
        if self.run_dir:
            lines.append(f"  run record: {self.run_dir}")
        if self.report:
            lines.append(f"  report: {self.report}")
        return "\n".join(lines)


def worst(verdicts: Sequence[str]) -> str:
    return max(verdicts, key=lambda v: _RANK[v], default="pass")


# ----------------------------------------------------------------------------- requirements
def _has_prometheus(p: Platform) -> str | None:
    try:
        _ = p.prometheus_url
    except Unsupported as exc:
        return str(exc)
    return None


def _has_alertmanager(p: Platform) -> str | None:
    try:
        _ = p.alertmanager_url
    except Unsupported as exc:
        return str(exc)
    return None


_DYNAMIC = ("service", "canary", "prometheus", "alertmanager")


def check_static_requirements(scenario: Scenario, platform: Platform) -> None:
    """Skip before bringing anything up when a required feature is not one the platform
    declares (``platform.features``); what needs a running stack is checked after ``up``."""
    features = set(getattr(platform, "features", set()) or set())
    missing = [
        r for r in scenario.requires if r.partition(":")[0] not in _DYNAMIC and r not in features
    ]
    if missing:
        have = sorted(features)
        raise ScenarioSkipped(
            f"{scenario.name} needs what {platform.name} lacks: "
            + "; ".join(
                f"{r} (not among the {platform.name} platform's features {have})" for r in missing
            )
        )


def check_requirements(scenario: Scenario, platform: Platform) -> None:
    """Raise :class:`ScenarioSkipped` naming each requirement the platform does not meet.

    ``service:NAME`` (the stack runs NAME), ``canary:SERVICE`` (a canary version runs),
    ``prometheus``, ``alertmanager``; any other name must be in ``platform.features`` (a set
    of strings a backend may declare, e.g. ``backup:postgresql``, ``spot_notices``)."""
    missing = []
    features = set(getattr(platform, "features", set()) or set())
    for req in scenario.requires:
        kind, _, arg = req.partition(":")
        if kind == "service":
            if arg not in platform.services():
                missing.append(f"{req} (the stack runs {platform.services()})")
        elif kind == "canary":
            if not any(r.version == "canary" for r in platform.replicas(arg)):
                missing.append(f"{req} (no canary replica of {arg})")
        elif (kind == "prometheus" and (why := _has_prometheus(platform))) or (
            kind == "alertmanager" and (why := _has_alertmanager(platform))
        ):
            missing.append(f"{req} ({why})")
        elif (
            kind not in ("service", "canary", "prometheus", "alertmanager") and req not in features
        ):
            missing.append(
                f"{req} (not among {platform.name} platform features {sorted(features)})"
            )
    if missing:
        raise ScenarioSkipped(
            f"{scenario.name} needs what {platform.name} lacks: " + "; ".join(missing)
        )


# ----------------------------------------------------------------------------- load
def _loadtests_runner(req: LoadRequest) -> None:
    """The default runner: loadtests' open-loop generator, events into the record."""
    from loadtests.arrivals import build_schedule
    from loadtests.routes import build_targets
    from loadtests.runner import run_load
    from loadtests.shapes import shape_from_spec

    shape = shape_from_spec(req.spec, source=req.source)
    mix = dict(req.spec.get("mix") or {r: 1.0 for r in req.endpoints})
    schedule = build_schedule(shape, mix, req.seed, scenario=req.source)
    targets = build_targets(mix, {r: e.url for r, e in req.endpoints.items()})
    run_load(schedule, targets, record=req.record, stop=req.stop)


def _load_duration(scenario: Scenario) -> float:
    """Seconds the load lasts; a bad ``load:`` block raises ConfigError with its line."""
    load = scenario.load
    if load.get("shape", "none") == "none":
        return 0.0
    from loadtests.shapes import shape_from_spec

    try:
        return float(shape_from_spec(load, source=scenario.source).duration_s)
    except ConfigError as exc:
        path = tuple(
            int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", exc.field or "load")
        )
        prefix = f"{exc.source} [{exc.field}]: " if exc.source else f"[{exc.field}]: "
        raise scenario.error(str(exc).removeprefix(prefix), path) from None


# ----------------------------------------------------------------------------- gates
def _default_gates(
    scenario: Scenario, run_dir: Path, context: dict[str, Any]
) -> list[dict[str, Any]]:
    """harness.gates, the one place gates are evaluated, over the run record on disk."""
    from harness.gates import evaluate_run

    return [
        v.to_json()
        for v in evaluate_run(scenario.expect, run_dir, source=scenario.source, **context)
    ]


# ----------------------------------------------------------------------------- dry run
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
        lines.append(f"  load: {json.dumps(load, sort_keys=True)} ({_load_duration(scenario):g}s)")
    planned = plan_timeline(scenario.faults, platform, Guard.from_settings())
    lines.append(f"  faults ({len(planned)}):")
    lines += [f"    {p.line()}" for p in planned]
    for gate in scenario.expect:
        lines.append(f"  expect: {json.dumps(gate, sort_keys=True)}")
    return lines, all(p.problem is None for p in planned)


# ----------------------------------------------------------------------------- the run
def _env() -> dict[str, Any]:
    return {
        "host": _host.node(),
        "python": _host.python_version(),
        "machine": _host.platform(),
        "cpus": os.cpu_count(),
        "ci": os.environ.get("CI") == "true",
    }


def _run_dir(runs_dir: Path | None, name: str) -> Path:
    base = runs_dir or settings().runs_path
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = base / f"{stamp}-{name}"
    n = 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{name}-{n}"
    return path


def _holds(ok: bool) -> str:
    return "holds" if ok else "BROKEN"


def _steady(
    scenario: Scenario, platform: Platform, record: RunRecord, phase: str, timeout_s: float
) -> list[ProbeOutcome]:
    outcomes = []
    for probe in scenario.steady_state:
        if phase == "after":
            t = parse_duration(probe["timeout"]) if "timeout" in probe else timeout_s
            out = wait_for(probe, platform, t)
        else:
            out = run_probe(probe, platform)
        record.emit(
            "note",
            message=f"steady state {phase}: {out.name} {_holds(out.ok)}: {out.detail}",
            phase=phase,
            probe=out.name,
            ok=out.ok,
        )
        outcomes.append(out)
    return outcomes


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
        from harness.platform import get_platform

        platform = get_platform(platform_name)
        check_static_requirements(scenario, platform)
        running = getattr(platform, "running", None)
        if callable(running) and running():
            say(f"reusing the running {name} stack")
            owned = False
    stack = scenario.stack
    if owned:
        say(f"bringing up the {name} stack (profile {stack.get('profile', 'default')})")
        platform.up(
            StackSpec(
                profile=str(stack.get("profile", "default")),
                values_file=stack.get("values_file"),
                overrides=dict(stack.get("overrides", {})),
            )
        )
    try:
        check_requirements(scenario, platform)
        return _run_on(
            scenario,
            platform,
            load_runner=load_runner or _loadtests_runner,
            evaluate=evaluate or _default_gates,
            runs_dir=runs_dir,
            ledger=ledger or Ledger(),
            report=scenario.report.get("html", False) if report is None else report,
            seed=seed if seed is not None else int(scenario.load.get("seed", 1)),
            say=say,
        )
    finally:
        if owned and not keep_up:
            say(f"bringing the {name} stack down")
            platform.down()


def _run_on(
    scenario: Scenario,
    platform: Platform,
    *,
    load_runner: LoadRunner,
    evaluate: GateEvaluator,
    runs_dir: Path | None,
    ledger: Ledger,
    report: bool,
    seed: int,
    say: Callable[[str], None],
) -> RunResult:
    run_dir = _run_dir(runs_dir, scenario.name)
    record = RunRecord(run_dir)
    result = RunResult(scenario.name, "pass", run_dir)
    record.emit(
        "run_start",
        scenario=scenario.name,
        platform=platform.name,
        seed=seed,
        env=_env(),
        spec=scenario.data,
        profile=scenario.profile,
        source=scenario.source,
    )
    verdicts: list[str] = []
    scheduler: FaultScheduler | None = None
    loop: ObserverLoop | None = None
    stop = threading.Event()
    try:
        with rollback_on_signals():
            try:
                # Plan and guard every fault against the running stack before touching it.
                planned = plan_timeline(scenario.faults, platform, Guard.from_settings())
                refused = [p for p in planned if p.problem]
                if refused:
                    raise GuardViolation("; ".join(str(p.problem) for p in refused))
                before = _steady(scenario, platform, record, "before", 0)
                if not all(o.ok for o in before):
                    result.reasons.append(
                        "not steady before the faults: "
                        + ", ".join(f"{o.name} ({o.detail})" for o in before if not o.ok)
                    )
                    verdicts.append("inconclusive")
                    raise _Abort
                services = scenario.observe.get("services") or platform.services()
                observers: list[Observer] = [
                    ReplicaObserver(platform, record, services),
                    ProbeObserver(platform, record, scenario.steady_state),
                ]
                if callable(getattr(platform, "events", None)):
                    observers.append(PlatformEventObserver(platform, record))
                if scenario.observe.get("alerts", True):
                    observers.append(AlertObserver(platform, record))
                if scenario.observe.get("prometheus"):
                    observers.append(
                        QueryObserver(platform, record, scenario.observe["prometheus"])
                    )
                if scenario.observe.get("monitoring"):
                    observers.append(MonitoringObserver(platform, record))
                interval = parse_duration(scenario.observe.get("interval", 1.0))
                loop = ObserverLoop(observers, record, interval)
                loop.poll_once()
                loop.start()
                duration = _load_duration(scenario)
                fault_end = max(
                    [f.at_s + (f.duration_s or 0.0) for f in scenario.faults], default=0.0
                )
                scheduler = FaultScheduler(
                    platform,
                    scenario.faults,
                    run_id=run_dir.name,
                    ledger=ledger,
                    record=record,
                )
                until = duration if duration > 0 else fault_end
                scheduler.start(until_s=until)
                say(f"running {scenario.name}: load {duration:g}s, {len(scenario.faults)} fault(s)")
                if duration > 0:
                    load_runner(
                        LoadRequest(
                            scenario.load,
                            platform.endpoints(),
                            record,
                            seed,
                            stop,
                            platform,
                            scenario.source,
                        )
                    )
                scheduler_thread_wait(scheduler, until)
            finally:
                stop.set()
                if scheduler is not None:
                    with shielded():
                        scheduler.rollback_all()
                        scheduler.join(timeout=60)
            # The run proper is over and every fault is rolled back.
            for out in scheduler.outcomes if scheduler else []:
                result.faults.append(out.to_json())
                if out.error:
                    result.reasons.append(f"{out.entry.label}: {out.error}")
                    verdicts.append("error")
                if out.rollback_error:
                    result.reasons.append(
                        f"{out.entry.label}: rollback failed: {out.rollback_error}"
                    )
                    verdicts.append("error")
            after = _steady(scenario, platform, record, "after", _AFTER_TIMEOUT_S)
            if not all(o.ok for o in after):
                result.reasons.append(
                    "steady state did not come back: "
                    + ", ".join(f"{o.name} ({o.detail})" for o in after if not o.ok)
                )
                verdicts.append("fail")
            if loop is not None:
                loop.stop()
                loop = None
                for probe_name, oks in _during(observers).items():
                    probe = next(
                        (p for p in scenario.steady_state if describe_probe(p) == probe_name), {}
                    )
                    if probe.get("during") and not all(oks):
                        result.reasons.append(
                            f"steady state {probe_name} broke during the run "
                            f"({oks.count(False)}/{len(oks)} checks)"
                        )
                        verdicts.append("fail")
            record.emit("note", message="evaluating gates")
            context = {"faults": result.faults, "platform": platform.name}
            gates = evaluate(scenario, run_dir, context)
            for g in gates:
                record.emit("gate", **{"verdict": "inconclusive", **g})
                result.gates.append(g)
                verdicts.append(str(g.get("verdict", "inconclusive")))
                if g.get("verdict") != "pass":
                    result.reasons.append(
                        f"gate {g.get('gate')}: {g.get('verdict')} "
                        f"(expected {g.get('expected')}, observed {g.get('observed')})"
                    )
    except _Abort:
        pass
    except (Interrupted, KeyboardInterrupt) as exc:
        result.reasons.append(f"interrupted: {exc or 'Ctrl-C'}; every fault was rolled back")
        verdicts.append("error")
        if loop is not None:
            loop.stop()
            loop = None
        _close(record, result, verdicts)
        raise
    except HarnessError as exc:
        result.reasons.append(f"{type(exc).__name__}: {exc}")
        verdicts.append("error")
    except Exception as exc:  # a bug or a dependency's crash: the run still closes its record
        result.reasons.append(f"crashed: {type(exc).__name__}: {exc}")
        verdicts.append("error")
    finally:
        if loop is not None:
            loop.stop()
    _close(record, result, verdicts)
    if report and result.verdict != "error":
        result.report = _write_report(run_dir, scenario, result)
    return result


def _during(observers: Sequence[Observer]) -> dict[str, list[bool]]:
    for obs in observers:
        if isinstance(obs, ProbeObserver):
            return obs.results
    return {}


class _Abort(Exception):
    pass


def scheduler_thread_wait(scheduler: FaultScheduler, until_s: float) -> None:
    """Wait for the timeline in short slices, so signals reach this (main) thread."""
    deadline = time.monotonic() + until_s + 60
    while scheduler.running:
        scheduler.join(timeout=0.2)
        if time.monotonic() > deadline:
            scheduler.stop()


def _close(record: RunRecord, result: RunResult, verdicts: list[str]) -> None:
    if getattr(record, "_closed", False):
        return
    result.verdict = worst(verdicts)
    record.close(
        result.verdict,
        scenario=result.scenario,
        reasons=result.reasons,
        gates=result.gates,
        faults=result.faults,
        **({"error": "; ".join(result.reasons)} if result.verdict == "error" else {}),
    )


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


def _bring_up(scenario: Scenario, name: str, say: Callable[[str], None]) -> Platform | None:
    """The platform up with the scenario's stack; None when a stack already runs (reused by
    run_scenario and left running)."""
    from harness.platform import get_platform

    platform = get_platform(name)
    check_static_requirements(scenario, platform)
    running = getattr(platform, "running", None)
    if callable(running) and running():
        return None
    stack = scenario.stack
    say(f"bringing up the {name} stack (profile {stack.get('profile', 'default')})")
    platform.up(
        StackSpec(
            profile=str(stack.get("profile", "default")),
            values_file=stack.get("values_file"),
            overrides=dict(stack.get("overrides", {})),
        )
    )
    return platform


# ----------------------------------------------------------------------------- CLI
@click.command(name="run")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--platform",
    "platform_name",
    type=click.Choice(["local", "kind", "eks"]),
    default="local",
    show_default=True,
    help="Where to run.",
)
@click.option("--dry-run", is_flag=True, help="Validate and print the plan; start nothing.")
@click.option("--report", "want_report", is_flag=True, help="Write the HTML report of each run.")
@click.option(
    "--profile",
    default=None,
    help="Apply the scenario's profile NAME (default: ci when CI=true, else none).",
)
@click.option("--keep-up", is_flag=True, help="Leave the stack running after the last scenario.")
@click.option(
    "--runs-dir", type=click.Path(path_type=Path), default=None, help="Where run records go."
)
def run(
    files: tuple[Path, ...],
    platform_name: str,
    dry_run: bool,
    want_report: bool,
    profile: str | None,
    keep_up: bool,
    runs_dir: Path | None,
) -> int:
    """Run scenario FILEs (game days) and print each verdict.

    Exit codes: 0 all passed, 1 a gate failed, 2 inconclusive (or skipped), 4 error.
    """
    if profile is None and os.environ.get("CI") == "true":
        profile = "ci"
    scenarios = [load_scenario(f, profile=profile) for f in files]  # all valid before any runs
    for s in scenarios:
        _load_duration(s)
    if dry_run:
        ok = True
        for s in scenarios:
            lines, good = dry_run_plan(s)
            ok = ok and good
            click.echo("\n".join(lines))
        return 0 if ok else EXIT_CODES["error"]
    verdicts = []

    def say(message: str) -> None:
        click.echo(f"msai run: {message}", err=True)

    held: tuple[str, Platform] | None = None  # a stack this command brought up, kept for the next
    try:
        for s in scenarios:
            key = json.dumps(s.stack, sort_keys=True)
            if held is not None and held[0] != key:
                say("bringing the previous stack down (the next scenario needs another)")
                held[1].down()
                held = None
            try:
                if held is None:
                    platform = _bring_up(s, platform_name, say)
                    if platform is not None:
                        held = (key, platform)
                result = run_scenario(
                    s,
                    platform=held[1] if held else None,
                    platform_name=platform_name,
                    runs_dir=runs_dir,
                    report=want_report or None,
                    keep_up=True,
                    echo=say,
                )
            except ScenarioSkipped as exc:
                click.echo(f"{s.name}: SKIPPED: {exc}")
                verdicts.append("inconclusive")
                continue
            click.echo(result.explain())
            verdicts.append(result.verdict)
    except Interrupted as exc:
        click.echo(f"msai run: {exc}: every fault was rolled back", err=True)
        return 128 + exc.signum
    finally:
        if held is not None and not keep_up:
            say(f"bringing the {platform_name} stack down")
            held[1].down()
    return EXIT_CODES[worst(verdicts)]
