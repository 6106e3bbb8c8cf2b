"""Roll back what a dead run left in the ledger: what ``msai`` does before every command.

Platforms are found by the name stored in each entry: ``fake`` is :class:`chaos.testing.
FakePlatform` (its injections name their state file), every other name goes through
``harness.platform.get_platform``.
"""

from __future__ import annotations

from pathlib import Path

from chaos.ledger import Ledger, RecoveryReport, has_open_entries, ledger_dir, recover_orphans
from harness.errors import Unsupported
from harness.platform.base import Platform

__all__ = ["recover", "resolve_platform"]


def resolve_platform(name: str) -> Platform:
    if name == "fake":
        from chaos.testing import FakePlatform

        return FakePlatform()
    try:
        from harness.platform import get_platform  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:
        raise Unsupported(name, "revert a fault", "no platform backends are installed") from exc
    platform: Platform = get_platform(name)
    return platform


def recover(home: Path | None = None) -> RecoveryReport:
    """Revert orphaned faults under ``home`` (default: the harness home)."""
    if not has_open_entries(home):
        return RecoveryReport()
    return recover_orphans(resolve_platform, Ledger(ledger_dir(home)))
