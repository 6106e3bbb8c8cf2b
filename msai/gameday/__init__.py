"""Run one scenario end to end: the game day (DESIGN.md "One run, as data").

    platform up (or reuse)  ->  requires?  ->  plan + guard every fault  ->  steady state before
    -> observers + fault scheduler (thread) + load (this thread)  ->  rollback everything
    -> steady state after  ->  fault proofs + gates  ->  verdict  ->  run record summary
    ->  report

Verdicts: ``error`` (the experiment could not be carried out: bad file, guard refusal, a
fault that would not inject or roll back, a crash) beats ``fail`` (a gate failed, a fault's
effect was not observed, or the steady state did not come back) beats ``inconclusive`` (the
system was not steady before the faults, a gate had no data, a fault's effect could not be
observed) beats ``pass``. A scenario that needs what the platform lacks is *skipped* with the
reason (:class:`ScenarioSkipped`), before anything starts.

Rollback is guaranteed the same way chaostoolkit does it: in ``finally``, with SIGTERM/SIGHUP
turned into exceptions (:func:`chaos.rollback_on_signals`) and signals held off while the
rollback runs; a SIGKILLed harness is cleaned up by the next ``msai`` command (the ledger).

Modules: ``model`` (result, verdict ranks), ``requirements``, ``stack`` (which stack a run
uses), ``load``, ``phases`` (the run as named phases), ``proofs`` (fault proofs in the
verdict), ``runner`` (:func:`run_scenario`, dry run), ``cli`` (``msai run``).
"""

from __future__ import annotations

from msai.gameday import baseline as _baseline
from msai.gameday.cli import run
from msai.gameday.load import load_duration
from msai.gameday.model import (
    GateEvaluator,
    LoadRequest,
    LoadRunner,
    RunResult,
    ScenarioSkipped,
    exit_code,
    worst,
)
from msai.gameday.proofs import prove_entries
from msai.gameday.requirements import check_requirements, check_static_requirements
from msai.gameday.runner import dry_run_plan, run_scenario

_baseline.register()  # the engine's gate kind: it compares with reports.compare

__all__ = [
    "GateEvaluator",
    "LoadRequest",
    "LoadRunner",
    "RunResult",
    "ScenarioSkipped",
    "check_requirements",
    "check_static_requirements",
    "dry_run_plan",
    "exit_code",
    "load_duration",
    "prove_entries",
    "run",
    "run_scenario",
    "worst",
]
