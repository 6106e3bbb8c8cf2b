"""Faults with guaranteed rollback: injectors, the fault ledger, guards and the scheduler.

chaos.base        the Fault protocol (validate -> inject -> probe -> rollback), FaultPlan
chaos.faults      one module per fault kind; FAULTS maps scenario kinds to them
chaos.ledger      faults on disk before they start; orphan recovery
chaos.guards      allow-list and blast-radius limits
chaos.scheduler   the timeline against a clock, run-record events
chaos.interrupts  SIGTERM/SIGHUP -> rollback
chaos.testing     FakePlatform and FakeClock, for unit tests of the engine
"""

from chaos.base import Fault, FaultPlan, ProbeResult
from chaos.faults import FAULTS, get_fault
from chaos.guards import Guard
from chaos.interrupts import Interrupted, rollback_on_signals, shielded
from chaos.ledger import Ledger, LedgerEntry, RecoveryReport, has_open_entries
from chaos.recovery import recover, resolve_platform
from chaos.scheduler import FaultOutcome, FaultScheduler, PlannedFault, plan_timeline
from chaos.settings import ChaosSettings, chaos_settings

__all__ = [
    "FAULTS",
    "ChaosSettings",
    "Fault",
    "FaultOutcome",
    "FaultPlan",
    "FaultScheduler",
    "Guard",
    "Interrupted",
    "Ledger",
    "LedgerEntry",
    "PlannedFault",
    "ProbeResult",
    "RecoveryReport",
    "chaos_settings",
    "get_fault",
    "has_open_entries",
    "plan_timeline",
    "recover",
    "resolve_platform",
    "rollback_on_signals",
    "shielded",
]
