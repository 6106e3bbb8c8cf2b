"""The fault timeline: each fault starts at its ``at`` offset and ends after its ``duration``
(or when the run ends), against a clock, with the ledger written first and rollback last.

For each fault::

    validate (fresh platform state) -> guard -> ledger.open -> fault_start event
    -> inject -> ledger.injected -> probe (its own thread) -> ... window ... -> fault_end event
    -> rollback -> ledger.rolled_back -> fault_rollback event

The probe is the fault's proof, watched live (a replica replaced, a node emptied before the
notice ends): it runs in a thread of its own so the timeline keeps its clock, and the timeline
waits for every probe before rolling back at its end. Its result is the outcome's ``proof``
(``observed``, ``not_observed``, ``unobservable``) and a ``fault_proof`` event; faults proved
from the run record instead (:class:`~chaos.base.RecordProof`) are proved by the game day.

``run`` blocks (tests drive it with a :class:`~chaos.testing.FakeClock`); ``start`` runs it in
a thread beside the load. :meth:`FaultScheduler.rollback_all` is idempotent and thread-safe:
the game day calls it in ``finally``, so rollback happens on success, failure, Ctrl-C and
SIGTERM (see :mod:`chaos.interrupts`); a SIGKILLed harness is cleaned up by the next ``msai``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaos.base import Fault, FaultPlan, ProbeResult, RecordProof
from chaos.faults import get_fault
from chaos.guards import Guard
from chaos.ledger import Ledger, LedgerEntry
from chaos.settings import ChaosSettings, chaos_settings
from harness.errors import HarnessError
from harness.platform.base import Injection, Platform
from harness.record import RunRecord
from harness.scenario import FaultEntry

__all__ = [
    "Clock",
    "FaultOutcome",
    "FaultScheduler",
    "PlannedFault",
    "SystemClock",
    "plan_timeline",
]

_ROLLBACK_ATTEMPTS = 3


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> bool:
        """Wait; True when the run was asked to stop meanwhile."""
        ...


class SystemClock:
    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> bool:
        return self._stop.wait(max(0.0, seconds))


@dataclass(frozen=True)
class PlannedFault:
    """A dry-run line: the plan, or why the fault would be refused."""

    entry: FaultEntry
    plan: FaultPlan | None
    problem: str | None

    def line(self) -> str:
        e = self.entry
        if e.duration_s:
            window = f" for {e.duration_s:g}s"
        elif get_fault(e.kind).reverts:
            window = " until the run ends"
        else:
            window = " (the platform heals it)"
        what = self.plan.describe if self.plan else f"{e.kind} {e.target}"
        verdict = f"REFUSED: {self.problem}" if self.problem else "ok"
        return f"at {e.at_s:>6g}s  {what}{window}  [{verdict}]"


def plan_timeline(
    entries: Sequence[FaultEntry], platform: Platform | None, guard: Guard
) -> list[PlannedFault]:
    """Validate and guard every fault without injecting anything (``--dry-run``)."""
    out = []
    for entry in sorted(entries, key=lambda e: e.at_s):
        try:
            plan = get_fault(entry.kind).validate(entry, platform)
            guard.check(plan)
        except HarnessError as exc:
            out.append(PlannedFault(entry, None, str(exc)))
            continue
        out.append(PlannedFault(entry, plan, None))
    return out


@dataclass
class FaultOutcome:
    """What happened to one fault of the timeline (for gates and the summary)."""

    entry: FaultEntry
    fault_id: str | None = None
    started_s: float | None = None
    ended_s: float | None = None
    injected: bool = False
    probe: str | None = None
    error: str | None = None
    rolled_back: bool = False
    rollback_error: str | None = None
    targets: list[str] = field(default_factory=list)
    plan: FaultPlan | None = None
    # the effect as the system showed it: {"status": observed | not_observed | unobservable,
    # "detail": ..., "source": live | record}; None until proved
    proof: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "fault": self.entry.kind,
            "label": self.entry.label,
            "fault_id": self.fault_id,
            "targets": self.targets,
            "started_s": self.started_s,
            "ended_s": self.ended_s,
            "injected": self.injected,
            "probe": self.probe,
            "error": self.error,
            "rolled_back": self.rolled_back,
            "rollback_error": self.rollback_error,
            "proof": self.proof,
        }


@dataclass
class _Active:
    fault: Fault
    plan: FaultPlan
    ledger_entry: LedgerEntry
    injections: list[Injection]
    outcome: FaultOutcome
    ends_at: float | None


class FaultScheduler:
    def __init__(
        self,
        platform: Platform,
        entries: Sequence[FaultEntry],
        *,
        run_id: str,
        ledger: Ledger,
        record: RunRecord | None = None,
        guard: Guard | None = None,
        clock: Clock | None = None,
        settings: ChaosSettings | None = None,
    ) -> None:
        self.platform = platform
        self.entries = sorted(entries, key=lambda e: (e.at_s, e.index))
        self.run_id = run_id
        self.ledger = ledger
        self.record = record
        self.settings = settings or chaos_settings()
        self.guard = guard or Guard.from_settings(self.settings)
        self._stop = threading.Event()
        self.clock: Clock = clock or SystemClock(self._stop)
        self._lock = threading.RLock()
        self._active: list[_Active] = []
        self.outcomes: list[FaultOutcome] = [FaultOutcome(e) for e in self.entries]
        self._t0: float | None = None
        self._thread: threading.Thread | None = None
        self._probes: list[threading.Thread] = []
        self._crash: BaseException | None = None

    # events ------------------------------------------------------------------------------
    def _emit(self, kind: str, **fields: Any) -> None:
        if self.record is not None:
            self.record.emit(kind, **fields)

    def _offset(self) -> float:
        now = self.clock.now()
        return round(now - (now if self._t0 is None else self._t0), 3)

    # running -----------------------------------------------------------------------------
    def run(self, until_s: float | None = None) -> list[FaultOutcome]:
        """Run the timeline; return when every fault has ended (or ``until_s`` passed, or
        :meth:`stop`). Everything still in force is rolled back before returning."""
        self._t0 = self.clock.now()
        pending = list(zip(self.entries, self.outcomes, strict=True))
        try:
            while not self._stop.is_set():
                now = self._offset()
                starts = [e.at_s for e, _ in pending]
                ends = [a.ends_at for a in self._active if a.ends_at is not None]
                upcoming = min([*starts, *ends], default=None)
                if upcoming is None:
                    if not self._active:
                        break
                    if until_s is None:  # faults in force until stop()
                        if self.clock.sleep(1.0):
                            break
                        continue
                    upcoming = until_s
                if until_s is not None and upcoming > until_s:
                    upcoming = until_s
                if upcoming > now and self.clock.sleep(upcoming - now):
                    break
                now = self._offset()
                for active in [a for a in self._active if a.ends_at is not None]:
                    if active.ends_at is not None and active.ends_at <= now + 1e-9:
                        self._finish(active)
                while pending and pending[0][0].at_s <= now + 1e-9:
                    entry, outcome = pending.pop(0)
                    self._start(entry, outcome)
                if until_s is not None and now >= until_s - 1e-9:
                    break
            for entry, outcome in pending:
                outcome.error = outcome.error or "not started: the run ended first"
                self._emit("note", message=f"{entry.label}: not started, the run ended first")
            if not self._stop.is_set():
                self.await_probes()  # a proof watches the fault in force: before the rollback
        finally:
            self.rollback_all()
        return self.outcomes

    def start(self, until_s: float | None = None) -> None:
        """Run the timeline in a background thread."""

        def target() -> None:
            try:
                self.run(until_s)
            except BaseException as exc:  # surfaced by join(); rollback already ran
                self._crash = exc

        self._thread = threading.Thread(target=target, name="fault-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> list[FaultOutcome]:
        if self._thread is not None:
            self._thread.join(timeout)
        if self._crash is not None:
            raise self._crash
        return self.outcomes

    # one fault ---------------------------------------------------------------------------
    def _start(self, entry: FaultEntry, outcome: FaultOutcome) -> None:
        with self._lock:
            if self._stop.is_set():
                outcome.error = "not started: the run was stopped"
                return
            fault = get_fault(entry.kind)
            try:
                plan = fault.validate(entry, self.platform)
                self.guard.check(plan, [a.plan for a in self._active])
            except HarnessError as exc:
                outcome.error = f"refused: {exc}"
                self._emit("note", message=f"{entry.label} not injected: {exc}")
                return
            outcome.targets = list(plan.targets)
            # On disk BEFORE the platform is touched.
            lentry = self.ledger.open(
                run_id=self.run_id,
                platform=self.platform.name,
                kind=entry.kind,
                targets=plan.targets,
                plan=plan.to_json(),
            )
            outcome.fault_id = lentry.id
            outcome.started_s = self._offset()
            self._emit(
                "fault_start",
                fault_id=lentry.id,
                fault=entry.kind,
                target=",".join(plan.targets),
                params=plan.params,
                at_s=outcome.started_s,
                describe=plan.describe,
                duration_s=entry.duration_s,
            )
            try:
                injections = fault.inject(plan, self.platform)
            except Exception as exc:
                outcome.error = f"inject failed: {type(exc).__name__}: {exc}"
                outcome.ended_s = self._offset()
                self._emit("fault_end", fault_id=lentry.id, ok=False, error=outcome.error)
                # By contract a primitive that raises changed nothing; the entry closes.
                self.ledger.rolled_back(lentry)
                outcome.rolled_back = True
                self._emit("fault_rollback", fault_id=lentry.id, ok=True, reverted=False)
                return
            lentry = self.ledger.injected(lentry, injections)
            outcome.injected = True
            outcome.plan = plan
            probe = threading.Thread(
                target=self._probe,
                args=(fault, plan, injections, outcome, lentry.id),
                name=f"proof-{lentry.id}",
                daemon=True,
            )
            self._probes.append(probe)
            probe.start()
            ends = None
            if entry.duration_s is not None:
                ends = outcome.started_s + entry.duration_s
            elif not fault.reverts:
                ends = outcome.started_s
            active = _Active(fault, plan, lentry, injections, outcome, ends)
            self._active.append(active)
            if ends is not None and ends <= outcome.started_s:
                self._finish(active)

    def _probe(
        self,
        fault: Fault,
        plan: FaultPlan,
        injections: list[Injection],
        outcome: FaultOutcome,
        fault_id: str,
    ) -> None:
        """Watch for the fault's effect (in the probe thread); never raises."""
        if self.settings.probe_delay_s > 0:
            time.sleep(self.settings.probe_delay_s)
        try:
            result = fault.probe(plan, self.platform, injections)
        except Exception as exc:  # a broken check must read as "could not tell", not a pass
            result = ProbeResult.unobservable(f"probe failed: {type(exc).__name__}: {exc}")
        for m in result.measurements:
            self._emit("measurement", fault_id=fault_id, **m)
        prefix = {"observed": "ok", "not_observed": "not observed", "unobservable": "unobservable"}
        outcome.probe = f"{prefix[result.status]}: {result.detail}"
        label = outcome.entry.label
        self._emit("note", message=f"{label} probe {outcome.probe}", fault_id=fault_id)
        if isinstance(fault, RecordProof):
            return  # proved from the run record after the run
        outcome.proof = {"status": result.status, "detail": result.detail, "source": "live"}
        self._emit("fault_proof", fault_id=fault_id, fault=outcome.entry.kind, **outcome.proof)

    def await_probes(self, timeout_s: float | None = None) -> None:
        """Wait for every probe started so far (each bounds its own watch)."""
        bound = timeout_s if timeout_s is not None else self.settings.proof_timeout_s + 30.0
        deadline = time.monotonic() + bound
        for probe in list(self._probes):
            probe.join(max(0.0, deadline - time.monotonic()))

    def _finish(self, active: _Active) -> None:
        with self._lock:
            if active not in self._active:
                return
            self._active.remove(active)
            out = active.outcome
            out.ended_s = self._offset()
            fid = active.ledger_entry.id
            self._emit("fault_end", fault_id=fid, ok=out.injected, probe=out.probe)
            if not active.fault.reverts:
                self.ledger.rolled_back(active.ledger_entry)
                out.rolled_back = True
                self._emit("fault_rollback", fault_id=fid, ok=True, reverted=False)
                return
            error = None
            for attempt in range(_ROLLBACK_ATTEMPTS):
                try:
                    active.fault.rollback(active.plan, self.platform, active.injections)
                    error = None
                    break
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    time.sleep(0.2 * (attempt + 1))
            if error is None:
                self.ledger.rolled_back(active.ledger_entry)
                out.rolled_back = True
                self._emit("fault_rollback", fault_id=fid, ok=True, reverted=True)
            else:
                # Left open in the ledger: the next msai command retries it.
                self.ledger.failed(active.ledger_entry, error)
                out.rollback_error = error
                self._emit("fault_rollback", fault_id=fid, ok=False, error=error)

    def rollback_all(self) -> None:
        """Stop starting faults and roll back every one in force. Idempotent."""
        self._stop.set()
        with self._lock:
            for active in list(self._active):
                self._finish(active)

    @property
    def active(self) -> list[FaultPlan]:
        with self._lock:
            return [a.plan for a in self._active]
