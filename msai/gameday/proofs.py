"""Fault proofs in the verdict: every fault's effect, observed from the system.

Live proofs (a replica replaced, a node emptied, a dependency metric down) come from each
fault's probe during the run (:mod:`chaos.scheduler`); faults whose effect shows only in the
responses (:class:`chaos.base.RecordProof`: mesh delay and abort) are proved here, from the run
record's load samples over the seconds the fault was in force. Then::

    observed       nothing to add
    not_observed   the verdict fails: the game day did not do what it says
    unobservable   the verdict is inconclusive: nothing could tell

:func:`prove_entries` proves a scenario's faults over any run record by their planned windows
(``at`` .. ``at + duration``): what re-judging a scenario over a null run uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chaos.base import ProbeResult, RecordProof
from chaos.faults import get_fault
from chaos.scheduler import FaultOutcome
from harness.gates import GateContext, Window
from harness.record import RunRecord
from harness.scenario import FaultEntry

__all__ = ["PROOF_VERDICTS", "prove_entries", "prove_outcomes"]

PROOF_VERDICTS = {"observed": "pass", "not_observed": "fail", "unobservable": "inconclusive"}


def prove_outcomes(
    outcomes: Sequence[FaultOutcome], run_dir: Path, record: RunRecord
) -> list[tuple[str, str]]:
    """Complete each injected fault's proof, record it (``fault_proof``), and return one
    (verdict, reason) per fault whose proof is not ``observed``."""
    ctx = GateContext.from_record(run_dir)
    out: list[tuple[str, str]] = []
    for o in outcomes:
        if not o.injected:
            continue  # never injected: the fault's error already decides the verdict
        fault = get_fault(o.entry.kind)
        if isinstance(fault, RecordProof) and o.plan is not None:
            window = _seconds(ctx, str(o.fault_id))
            result = (
                fault.prove(o.plan, window, ctx)
                if window is not None
                else ProbeResult.unobservable("no load timeline to place the fault on")
            )
            o.proof = {"status": result.status, "detail": result.detail, "source": "record"}
            for m in result.measurements:
                record.emit("measurement", fault_id=o.fault_id, **m)
            record.emit("fault_proof", fault_id=o.fault_id, fault=o.entry.kind, **o.proof)
        elif o.proof is None:
            o.proof = {
                "status": "unobservable",
                "detail": "the probe did not finish before the run ended",
                "source": "live",
            }
            record.emit("fault_proof", fault_id=o.fault_id, fault=o.entry.kind, **o.proof)
        verdict = PROOF_VERDICTS[str(o.proof["status"])]
        if verdict != "pass":
            what = "not observed" if verdict == "fail" else "could not be observed"
            out.append((verdict, f"{o.entry.label}: effect {what}: {o.proof['detail']}"))
    return out


def prove_entries(entries: Sequence[FaultEntry], ctx: GateContext) -> list[dict[str, Any]]:
    """The record proofs of ``entries`` over ``ctx``'s load samples, each fault at its planned
    seconds: ``{"fault", "status", "verdict", "detail"}``. A fault proved live has nothing in
    a record it was never injected into: ``not_observed`` (its effect is absent)."""
    out = []
    for entry in entries:
        fault = get_fault(entry.kind)
        end = entry.at_s + (entry.duration_s or 1.0)
        if isinstance(fault, RecordProof):
            plan = fault.validate(entry, None)
            result = fault.prove(plan, Window(entry.at_s, end), ctx)
            status, detail = result.status, result.detail
        else:
            status, detail = "not_observed", "proved live; nothing was injected in this run"
        out.append(
            {
                "fault": entry.label,
                "status": status,
                "verdict": PROOF_VERDICTS[status],
                "detail": detail,
            }
        )
    return out


def _seconds(ctx: GateContext, fault_id: str) -> Window | None:
    """The load seconds the fault was in force: a second counts when most of it was."""
    t0 = ctx.load_t0()
    spans = ctx.fault_spans(fault_id)
    if t0 is None or not spans:
        return None
    start, end = spans[0][0] - t0, spans[0][1] - t0
    return Window(float(round(start)), float(max(round(end), round(start) + 1)))
