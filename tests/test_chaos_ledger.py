"""The ledger: on disk before the fault, gone after rollback; orphans are recovered."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.ledger import Ledger, has_open_entries, recover_orphans
from chaos.testing import FakePlatform
from harness.platform.base import StackSpec


def test_entry_lifecycle(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "faults")
    assert not has_open_entries(tmp_path)
    entry = ledger.open(run_id="r", platform="fake", kind="mesh_delay", targets=["ner"], plan={})
    assert has_open_entries(tmp_path)
    assert [x.id for x in ledger.entries()] == [entry.id]
    assert ledger.entries()[0].owner_alive()  # this process holds it: not an orphan
    assert ledger.orphans() == []
    ledger.rolled_back(entry)
    assert not has_open_entries(tmp_path)
    events = [line["event"] for line in ledger.history_lines()]
    assert events == ["open", "rolled_back"]


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def test_orphans_are_reverted_from_their_undo_data(tmp_path: Path) -> None:
    world = tmp_path / "world.json"
    fake = FakePlatform(world)
    fake.up(StackSpec())
    ledger = Ledger(tmp_path / "faults")
    entry = ledger.open(run_id="r", platform="fake", kind="drain", targets=["general-a"], plan={})
    entry = ledger.injected(entry, [fake.drain("general-a")])
    # pretend its owner died
    path = ledger.open_dir / f"{entry.id}.json"
    path.write_text(path.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {_dead_pid()}'))
    assert [o.id for o in ledger.orphans()] == [entry.id]
    report = recover_orphans(lambda name: FakePlatform(), ledger)
    assert report.reverted
    assert not report.failed
    assert FakePlatform(world).active_injections() == []
    assert all(n.schedulable for n in FakePlatform(world).nodes())
    assert not has_open_entries(tmp_path)


def test_a_live_owners_faults_are_left_alone(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "faults")
    ledger.open(run_id="r", platform="fake", kind="mesh_delay", targets=["ner"], plan={})
    report = recover_orphans(lambda name: pytest.fail("must not resolve"), ledger)
    assert report.busy
    assert has_open_entries(tmp_path)


def test_pending_entry_is_reverted_from_its_plan(tmp_path: Path) -> None:
    """The harness died between the platform injecting and the ledger recording the undo."""
    world = tmp_path / "world.json"
    fake = FakePlatform(world)
    fake.up(StackSpec())
    ledger = Ledger(tmp_path / "faults")
    entry = ledger.open(
        run_id="r",
        platform="fake",
        kind="mesh_abort",
        targets=["ner"],
        plan={"params": {"abort_status": 503, "percent": 5}},
    )
    fake.mesh_fault("ner", abort_status=503, percent=5)  # injected, never recorded
    path = ledger.open_dir / f"{entry.id}.json"
    path.write_text(path.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {_dead_pid()}'))

    class WorldFake(FakePlatform):
        def __init__(self) -> None:
            super().__init__(world)

    report = recover_orphans(lambda name: WorldFake(), ledger)
    assert report.reverted, report
    assert FakePlatform(world).active_injections() == []


def test_failed_rollback_stays_open_for_the_next_command(tmp_path: Path) -> None:
    world = tmp_path / "world.json"
    fake = FakePlatform(world)
    fake.up(StackSpec())
    ledger = Ledger(tmp_path / "faults")
    entry = ledger.open(run_id="r", platform="fake", kind="drain", targets=["general-a"], plan={})
    ledger.injected(entry, [fake.drain("general-a")])
    path = ledger.open_dir / f"{entry.id}.json"
    path.write_text(path.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {_dead_pid()}'))
    report = recover_orphans(lambda name: FakePlatform(world, fail_on={"revert"}), ledger)
    assert report.failed
    assert has_open_entries(tmp_path)
    assert "will retry" in "\n".join(report.lines())
    report = recover_orphans(lambda name: FakePlatform(world), ledger)
    assert report.reverted
    assert not has_open_entries(tmp_path)


def test_corrupt_entry_is_reported_not_skipped(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "faults")
    (ledger.open_dir / "broken.json").write_text("{not json")
    report = recover_orphans(lambda name: FakePlatform(), ledger)
    assert report.failed
    assert "unreadable" in report.failed[0]
