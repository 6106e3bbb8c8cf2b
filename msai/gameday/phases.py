"""The phases of one game day, each a short function over a :class:`GameDay`::

    plan  ->  steady state before  ->  inject + load + observe  ->  rollback
    ->  steady state after  ->  judge (fault proofs, gates)  ->  record

:func:`run_phases` runs them in that order with rollback in ``finally`` (as chaostoolkit's
runner does) and turns what goes wrong into the verdict: ``error`` (the experiment could not
be carried out) beats ``fail`` beats ``inconclusive`` beats ``pass``.
"""

from __future__ import annotations

import os
import platform as _host
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos import (
    FaultScheduler,
    Guard,
    Interrupted,
    Ledger,
    plan_timeline,
    rollback_on_signals,
    shielded,
)
from chaos.settings import chaos_settings
from harness.errors import GuardViolation, HarnessError
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
from harness.platform.base import Platform
from harness.probes import ProbeOutcome, describe_probe, run_probe, wait_for
from harness.record import RunRecord
from harness.scenario import Scenario, parse_duration
from harness.verdict_text import describe_gate
from msai.gameday.load import load_duration
from msai.gameday.model import GateEvaluator, LoadRequest, LoadRunner, RunResult, worst
from msai.gameday.proofs import prove_outcomes

__all__ = ["GameDay", "run_phases"]

_AFTER_TIMEOUT_S = 30.0


class _Abort(Exception):
    """The run stops here with the verdicts it has (not steady before the faults)."""


@dataclass
class GameDay:
    """One run in progress: what the phases share."""

    scenario: Scenario
    platform: Platform
    run_dir: Path
    load_runner: LoadRunner
    evaluate: GateEvaluator
    ledger: Ledger
    seed: int
    say: Callable[[str], None]
    record: RunRecord = field(init=False)
    result: RunResult = field(init=False)
    verdicts: list[str] = field(default_factory=list)
    scheduler: FaultScheduler | None = None
    loop: ObserverLoop | None = None
    observers: list[Observer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    closed: bool = False

    def __post_init__(self) -> None:
        self.record = RunRecord(self.run_dir)
        self.result = RunResult(self.scenario.name, "pass", self.run_dir)

    def judge(self, verdict: str, reason: str | None = None) -> None:
        self.verdicts.append(verdict)
        if reason:
            self.result.reasons.append(reason)


def _env() -> dict[str, Any]:
    return {
        "host": _host.node(),
        "python": _host.python_version(),
        "machine": _host.platform(),
        "cpus": os.cpu_count(),
        "ci": os.environ.get("CI") == "true",
    }


# ----------------------------------------------------------------------------- phases
def start(day: GameDay) -> None:
    s = day.scenario
    day.record.emit(
        "run_start",
        scenario=s.name,
        platform=day.platform.name,
        seed=day.seed,
        env=_env(),
        spec=s.data,
        profile=s.profile,
        source=s.source,
    )


def plan(day: GameDay) -> None:
    """Validate and guard every fault against the running stack before touching it."""
    planned = plan_timeline(day.scenario.faults, day.platform, Guard.from_settings())
    refused = [p for p in planned if p.problem]
    if refused:
        raise GuardViolation("; ".join(str(p.problem) for p in refused))


def _steady(day: GameDay, phase: str, timeout_s: float) -> list[ProbeOutcome]:
    outcomes = []
    for probe in day.scenario.steady_state:
        if phase == "after":
            t = parse_duration(probe["timeout"]) if "timeout" in probe else timeout_s
            out = wait_for(probe, day.platform, t)
        else:
            out = run_probe(probe, day.platform)
        state = "holds" if out.ok else "BROKEN"
        day.record.emit(
            "note",
            message=f"steady state {phase}: {out.name} {state}: {out.detail}",
            phase=phase,
            probe=out.name,
            ok=out.ok,
        )
        outcomes.append(out)
    return outcomes


def _broken(outcomes: list[ProbeOutcome]) -> str:
    return ", ".join(f"{o.name} ({o.detail})" for o in outcomes if not o.ok)


def steady_before(day: GameDay) -> None:
    before = _steady(day, "before", 0)
    if not all(o.ok for o in before):
        day.judge("inconclusive", "not steady before the faults: " + _broken(before))
        raise _Abort


def observe(day: GameDay) -> None:
    s, p, rec = day.scenario, day.platform, day.record
    services = s.observe.get("services") or p.services()
    day.observers = [ReplicaObserver(p, rec, services), ProbeObserver(p, rec, s.steady_state)]
    if callable(getattr(p, "events", None)):
        day.observers.append(PlatformEventObserver(p, rec))
    if s.observe.get("alerts", True):
        day.observers.append(AlertObserver(p, rec))
    if s.observe.get("prometheus"):
        day.observers.append(QueryObserver(p, rec, s.observe["prometheus"]))
    if s.observe.get("monitoring"):
        day.observers.append(MonitoringObserver(p, rec))
    interval = parse_duration(s.observe.get("interval", 1.0))
    day.loop = ObserverLoop(day.observers, rec, interval)
    day.loop.poll_once()
    day.loop.start()


def inject_and_load(day: GameDay) -> None:
    """The fault timeline in its thread, the load in this one; back when both are done."""
    s = day.scenario
    load_s = load_duration(s)
    fault_end = max([f.at_s + (f.duration_s or 0.0) for f in s.faults], default=0.0)
    until = load_s if load_s > 0 else fault_end
    day.scheduler = FaultScheduler(
        day.platform, s.faults, run_id=day.run_dir.name, ledger=day.ledger, record=day.record
    )
    day.scheduler.start(until_s=until)
    day.say(f"running {s.name}: load {load_s:g}s, {len(s.faults)} fault(s)")
    if load_s > 0:
        request = LoadRequest(
            s.load,
            day.platform.endpoints(),
            day.record,
            day.seed,
            day.stop,
            day.platform,
            s.source,
        )
        day.load_runner(request)
    scheduler_thread_wait(day.scheduler, until)


def rollback(day: GameDay) -> None:
    day.stop.set()
    if day.scheduler is not None:
        with shielded():
            day.scheduler.rollback_all()
            day.scheduler.join(timeout=60)


def collect_faults(day: GameDay) -> None:
    for out in day.scheduler.outcomes if day.scheduler else []:
        if out.error:
            day.judge("error", f"{out.entry.label}: {out.error}")
        if out.rollback_error:
            day.judge("error", f"{out.entry.label}: rollback failed: {out.rollback_error}")


def steady_after(day: GameDay) -> None:
    after = _steady(day, "after", _AFTER_TIMEOUT_S)
    if not all(o.ok for o in after):
        day.judge("fail", "steady state did not come back: " + _broken(after))


def stop_observers(day: GameDay) -> None:
    """The observers' last poll; a ``during: true`` probe that broke fails the run."""
    if day.loop is None:
        return
    day.loop.stop()
    day.loop = None
    results = next((o.results for o in day.observers if isinstance(o, ProbeObserver)), {})
    for name, oks in results.items():
        probe = next((p for p in day.scenario.steady_state if describe_probe(p) == name), {})
        if probe.get("during") and not all(oks):
            day.judge(
                "fail",
                f"steady state {name} broke during the run ({oks.count(False)}/{len(oks)} checks)",
            )


def judge(day: GameDay) -> None:
    """Every fault's proof, then every gate, over the run record."""
    outcomes = day.scheduler.outcomes if day.scheduler else []
    for verdict, reason in prove_outcomes(outcomes, day.run_dir, day.record):
        day.judge(verdict, reason)
    day.result.faults = [o.to_json() for o in outcomes]
    day.record.emit("note", message="evaluating gates")
    context = {"faults": day.result.faults, "platform": day.platform.name}
    for g in day.evaluate(day.scenario, day.run_dir, context):
        day.record.emit("gate", **{"verdict": "inconclusive", **g})
        day.result.gates.append(g)
        verdict = str(g.get("verdict", "inconclusive"))
        day.judge(verdict, describe_gate(g) if verdict != "pass" else None)


def close(day: GameDay) -> None:
    """The run record's summary: the verdict with its reasons, gates and faults."""
    if day.closed:
        return
    day.closed = True
    result = day.result
    if not result.faults and day.scheduler is not None:
        result.faults = [o.to_json() for o in day.scheduler.outcomes]
    result.verdict = worst(day.verdicts)
    day.record.close(
        result.verdict,
        scenario=result.scenario,
        reasons=result.reasons,
        gates=result.gates,
        faults=result.faults,
        **({"error": "; ".join(result.reasons)} if result.verdict == "error" else {}),
    )


def scheduler_thread_wait(scheduler: FaultScheduler, until_s: float) -> None:
    """Wait for the timeline (and its proofs) in short slices, so signals reach this thread."""
    deadline = time.monotonic() + until_s + chaos_settings().proof_timeout_s + 60
    while scheduler.running:
        scheduler.join(timeout=0.2)
        if time.monotonic() > deadline:
            scheduler.stop()


# ----------------------------------------------------------------------------- the run
def run_phases(day: GameDay) -> RunResult:
    """Every phase in order; rollback whatever happens; the verdict recorded."""
    start(day)
    try:
        with rollback_on_signals():
            try:
                plan(day)
                steady_before(day)
                observe(day)
                inject_and_load(day)
            finally:
                rollback(day)
            collect_faults(day)
            steady_after(day)
            stop_observers(day)
            judge(day)
    except _Abort:
        pass
    except (Interrupted, KeyboardInterrupt) as exc:
        day.judge("error", f"interrupted: {exc or 'Ctrl-C'}; every fault was rolled back")
        stop_observers(day)
        close(day)
        raise
    except HarnessError as exc:
        day.judge("error", f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug or a dependency's crash: the run still closes its record
        day.judge("error", f"crashed: {type(exc).__name__}: {exc}")
    finally:
        if day.loop is not None:
            day.loop.stop()
            day.loop = None
    close(day)
    return day.result
