"""backup_drill against the FakePlatform: the drill's sequence, its verdicts and measurements."""

from __future__ import annotations

from typing import Any

import pytest

from chaos.faults import FAULTS
from chaos.faults.backup_drill import BackupDrill, DataStore
from chaos.ledger import Ledger
from chaos.scheduler import FaultScheduler
from chaos.testing import FakeClock, FakePlatform
from harness.errors import ConfigError, FaultError, Unsupported
from harness.platform.base import Platform, StackSpec
from harness.record import RunRecord, read_events
from harness.scenario import FaultEntry


class FakeStore:
    """The drill's items kept in the fake platform's store, so its backup/restore act on them."""

    def __init__(self, platform: FakePlatform, store: str, *, lossless: bool = False) -> None:
        self.p, self.store, self.lossless = platform, store, lossless

    def _items(self) -> dict[str, str]:
        value = self.p.read_data(self.store)  # type: ignore[arg-type]
        return dict(value) if isinstance(value, dict) else {}

    def put(self, items: dict[str, str]) -> None:
        self.p.write_data(self.store, {**self._items(), **items})  # type: ignore[arg-type]

    def items(self) -> dict[str, str]:
        return self._items()

    def checksum(self) -> str:
        return repr(sorted(self._items().items()))

    def lose(self) -> None:
        if not self.lossless:
            self.p.write_data(self.store, {})  # type: ignore[arg-type]

    def cleanup(self) -> None:
        self.p.write_data(self.store, {})  # type: ignore[arg-type]


def _entry(store: str = "redis", **params: Any) -> FaultEntry:
    # a short schedule: 0.3 s between backups, 1.2 s of writes at 50 items/s
    fast = {"write_rate": 50, "backup_every": "0.3s", "window": "1.2s", **params}
    return FaultEntry(index=0, at_s=0.0, kind="backup_drill", target={"store": store}, params=fast)


@pytest.fixture
def platform() -> FakePlatform:
    p = FakePlatform()
    p.up(StackSpec(profile="minimal"))
    return p


def _drill(**kw: Any) -> BackupDrill:
    def connect(platform: Platform, store: str) -> DataStore:
        assert isinstance(platform, FakePlatform)
        return FakeStore(platform, store, **kw)

    return BackupDrill(connect=connect)


def test_registered_and_self_contained() -> None:
    assert isinstance(FAULTS["backup_drill"], BackupDrill)
    assert FAULTS["backup_drill"].reverts is False


@pytest.mark.parametrize("store", ["postgresql", "redis", "s3"])
def test_drill_restores_the_backed_up_state_and_measures(
    platform: FakePlatform, store: str
) -> None:
    drill = _drill()
    plan = drill.validate(_entry(store, items=10), platform)
    injections = drill.inject(plan, platform)
    ops = [name for name, _ in platform.calls if name in ("backup", "restore")]
    assert ops[-1] == "restore"
    assert ops.count("backup") >= 3  # on the schedule: every 0.3 s of a 1.2 s window
    p = injections[0].params
    assert p["written"] > 10
    # on schedule, what is lost is at most one interval of writes plus one backup's duration
    assert 0 <= p["rpo_s"] <= 0.3 + p["backup_s"] + 0.1
    assert p["rto_s"] >= 0
    assert p["backup_id"].startswith(store)
    assert injections[0].undo == {}
    result = drill.probe(plan, platform, injections)
    assert result.ok
    names = {(m["name"], m["store"]) for m in result.measurements}
    assert {("rpo_s", store), ("rto_s", store), ("backup_s", store)} <= names
    assert platform.read_data(store) == {}  # type: ignore[arg-type]  # drill data cleaned up


def test_a_loss_that_loses_nothing_is_an_error(platform: FakePlatform) -> None:
    drill = _drill(lossless=True)
    with pytest.raises(FaultError, match="left the data in place"):
        drill.inject(drill.validate(_entry(), platform), platform)


def test_a_restore_that_brings_back_the_wrong_state_fails(platform: FakePlatform) -> None:
    drill = _drill()
    real_restore = platform.restore

    def bad_restore(store: Any, backup_id: str) -> None:
        real_restore(store, backup_id)
        platform.write_data(store, {"k00000": "corrupt"})

    platform.restore = bad_restore  # type: ignore[method-assign]
    with pytest.raises(FaultError, match="not the first"):
        drill.inject(drill.validate(_entry(), platform), platform)
    assert platform.read_data("redis") == {}


def test_validate_names_the_field() -> None:
    with pytest.raises(ConfigError) as exc:
        BackupDrill().validate(_entry("mysql"), None)
    assert exc.value.field == "faults[0].target.store"
    with pytest.raises(ConfigError, match="items"):
        BackupDrill().validate(_entry(items=1), None)


def test_platform_without_connection_details_is_unsupported(platform: FakePlatform) -> None:
    drill = BackupDrill()
    with pytest.raises(Unsupported):
        drill.inject(drill.validate(_entry(), platform), platform)


def test_scheduler_emits_measurements_and_closes_the_ledger(
    platform: FakePlatform, tmp_path: Any
) -> None:
    import chaos.faults as registry

    record = RunRecord(tmp_path / "run")
    ledger = Ledger(tmp_path / "ledger")
    saved = registry.FAULTS["backup_drill"]
    registry.FAULTS["backup_drill"] = _drill()
    try:
        sched = FaultScheduler(
            platform,
            [_entry("postgresql")],
            run_id="r",
            ledger=ledger,
            record=record,
            clock=FakeClock(),
        )
        outcomes = sched.run()
    finally:
        registry.FAULTS["backup_drill"] = saved
    record.close("pass")
    assert outcomes[0].error is None
    assert outcomes[0].rolled_back
    events = [e for e in read_events(tmp_path / "run") if e.kind == "measurement"]
    assert {e["name"] for e in events} == {"rpo_s", "rto_s", "backup_s"}
    assert ledger.entries() == []  # nothing left open


def test_a_broken_schedule_fails_the_rpo_gate(platform: FakePlatform, tmp_path: Any) -> None:
    """Backups that fail after the first: the restore goes back to the first one, the loss
    costs most of the window, and the RPO gate held against the schedule fails."""
    from harness.gates import GateContext, evaluate_gates, gates_from_specs

    real_backup = platform.backup
    taken: list[str] = []

    def failing_after_first(store: Any) -> str:
        if taken:
            raise FaultError("backup target full")
        taken.append(real_backup(store))
        return taken[-1]

    platform.backup = failing_after_first  # type: ignore[method-assign]
    drill = _drill()
    plan = drill.validate(_entry(window="1.5s"), platform)
    injections = drill.inject(plan, platform)
    p = injections[0].params
    assert p["backup_id"] == taken[0]
    assert p["good_backups"] == 1
    assert p["backups"] >= 3
    result = drill.probe(plan, platform, injections)
    record = RunRecord(tmp_path / "run")
    for m in result.measurements:
        record.emit("measurement", **m)
    record.close("pass")
    gate = gates_from_specs([{"gate": "measurement", "name": "rpo_s", "max": 0.5}])
    [verdict] = evaluate_gates(gate, GateContext.from_record(tmp_path / "run"))
    assert verdict.verdict == "fail", verdict
    assert p["rpo_s"] > 0.5


def test_the_same_gate_passes_on_schedule(platform: FakePlatform, tmp_path: Any) -> None:
    drill = _drill()
    plan = drill.validate(_entry(window="1.5s"), platform)
    result = drill.probe(plan, platform, drill.inject(plan, platform))
    record = RunRecord(tmp_path / "run")
    for m in result.measurements:
        record.emit("measurement", **m)
    record.close("pass")
    from harness.gates import GateContext, evaluate_gates, gates_from_specs

    gate = gates_from_specs([{"gate": "measurement", "name": "rpo_s", "max": 0.5}])
    [verdict] = evaluate_gates(gate, GateContext.from_record(tmp_path / "run"))
    assert verdict.verdict == "pass", verdict
