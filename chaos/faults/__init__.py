"""Fault kinds, one module each, all implementing :class:`chaos.base.Fault`.

``FAULTS`` maps the scenario's ``kind:`` to an instance. The modules do not import each other
(import-linter independence contract), so a new kind is one new module plus one line here and
its parameters in ``harness.scenario``'s schema.
"""

from __future__ import annotations

from chaos.base import Fault
from chaos.faults.backup_drill import BackupDrill
from chaos.faults.canary_fault import CanaryFault
from chaos.faults.drain import Drain
from chaos.faults.kill import Kill
from chaos.faults.mesh_abort import MeshAbort
from chaos.faults.mesh_delay import MeshDelay
from chaos.faults.outage import DependencyOutage
from chaos.faults.partition import Partition
from chaos.faults.restart import Restart
from chaos.faults.spot import SpotInterruption
from harness.errors import ConfigError

__all__ = ["FAULTS", "get_fault"]

FAULTS: dict[str, Fault] = {
    f.kind: f
    for f in (
        Kill(),
        Restart(),
        Drain(),
        SpotInterruption(),
        MeshDelay(),
        MeshAbort(),
        DependencyOutage(),
        Partition(),
        BackupDrill(),
        CanaryFault(),
    )
}


def get_fault(kind: str) -> Fault:
    try:
        return FAULTS[kind]
    except KeyError:
        raise ConfigError(f"unknown fault kind {kind!r} (known: {sorted(FAULTS)})") from None
