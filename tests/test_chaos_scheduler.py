"""The fault timeline against a virtual clock: order, windows, events, rollback on errors."""

import threading
import time
from pathlib import Path

import pytest

from chaos import FaultScheduler, Guard, Ledger
from chaos.settings import ChaosSettings
from chaos.testing import FakeClock, FakePlatform
from harness.platform.base import StackSpec
from harness.record import RunRecord, read_events
from harness.scenario import FaultEntry

SETTINGS = ChaosSettings(probe_delay_s=0.0)
GUARD = Guard(allow=("*",), max_concurrent=4, max_abort_percent=50)


@pytest.fixture
def fake() -> FakePlatform:
    p = FakePlatform()
    p.up(StackSpec())
    return p


def e(i: int, at: float, kind: str, target: dict, duration: float | None = None, **params: object):
    return FaultEntry(i, at, kind, target, dict(params), duration_s=duration)


_records: list[RunRecord] = []


@pytest.fixture(autouse=True)
def _close_records():
    yield
    while _records:
        r = _records.pop()
        if not r._closed:
            r.close("pass")


def scheduler(fake, entries, tmp_path: Path, clock=None) -> tuple[FaultScheduler, RunRecord]:
    record = RunRecord(tmp_path / "run")
    _records.append(record)
    s = FaultScheduler(
        fake,
        entries,
        run_id="run",
        ledger=Ledger(tmp_path / "faults"),
        record=record,
        guard=GUARD,
        clock=clock or FakeClock(),
        settings=SETTINGS,
    )
    return s, record


def test_timeline_runs_in_order_and_records_every_step(fake, tmp_path: Path) -> None:
    entries = [
        e(0, 10, "mesh_delay", {"route": "ner"}, 5, delay="200ms"),
        e(1, 2, "kill", {"service": "ner"}),
        e(2, 12, "drain", {"node": "general-a"}),  # no duration: until the run ends
    ]
    clock = FakeClock()
    s, record = scheduler(fake, entries, tmp_path, clock)
    outcomes = s.run(until_s=30)
    record.close("pass")
    assert [o.entry.kind for o in outcomes] == ["kill", "mesh_delay", "drain"]
    assert [o.started_s for o in outcomes] == [2, 10, 12]
    assert [o.ended_s for o in outcomes] == [2, 15, 30]
    assert all(o.rolled_back and o.injected and not o.error for o in outcomes)
    kinds = [(ev.kind, ev.get("fault_id")) for ev in read_events(tmp_path / "run")]
    for o in outcomes:
        mine = [k for k, fid in kinds if fid == o.fault_id]
        # the probe watches in its own thread: its note may come after the fault's end
        steps = [k for k in mine if k in ("fault_start", "fault_end", "fault_rollback")]
        assert steps == ["fault_start", "fault_end", "fault_rollback"], (o.entry.kind, mine)
        assert "note" in mine
        # proved live (kill, drain) or from the load samples by the game day (mesh_delay)
        assert ("fault_proof" in mine) == (o.entry.kind != "mesh_delay"), (o.entry.kind, mine)
        assert (o.proof is None) == (o.entry.kind == "mesh_delay")
    assert outcomes[0].proof == {
        "status": "observed",
        "detail": outcomes[0].proof["detail"],
        "source": "live",
    }
    assert fake.active_injections() == []
    assert not list((tmp_path / "faults" / "open").iterdir())


def test_the_ledger_has_the_fault_before_the_platform_sees_it(fake, tmp_path: Path) -> None:
    seen: list[int] = []
    ledger_open = tmp_path / "faults" / "open"
    original = fake.mesh_fault

    def spy(*args, **kwargs):
        seen.append(len(list(ledger_open.glob("*.json"))))
        return original(*args, **kwargs)

    fake.mesh_fault = spy  # type: ignore[method-assign]
    s, _ = scheduler(fake, [e(0, 0, "mesh_abort", {"route": "ner"}, 1, percent=5)], tmp_path)
    s.run(until_s=5)
    assert seen == [1]


def test_guard_refusal_at_run_time_injects_nothing(fake, tmp_path: Path) -> None:
    s, _ = scheduler(fake, [e(0, 1, "kill", {"service": "ner"}, count=2)], tmp_path)
    (out,) = s.run(until_s=5)
    assert out.error
    assert "refused" in out.error
    assert not [c for c in fake.calls if c[0] == "kill"]


def test_inject_failure_is_recorded_and_the_rest_still_runs(tmp_path: Path) -> None:
    fake = FakePlatform(fail_on={"drain"})
    fake.up(StackSpec())
    s, _ = scheduler(
        fake,
        [
            e(0, 1, "drain", {"node": "general-a"}, 2),
            e(1, 2, "mesh_delay", {"route": "ner"}, 1, delay=1),
        ],
        tmp_path,
    )
    a, b = s.run(until_s=10)
    assert a.error
    assert "inject failed" in a.error
    assert b.injected
    assert b.rolled_back
    assert fake.active_injections() == []


def test_rollback_failure_is_kept_open_in_the_ledger(tmp_path: Path) -> None:
    fake = FakePlatform()
    fake.up(StackSpec())
    s, _ = scheduler(fake, [e(0, 0, "mesh_delay", {"route": "ner"}, 1, delay=1)], tmp_path)
    fake.fail_on.add("revert")
    (out,) = s.run(until_s=3)
    assert out.rollback_error
    assert len(Ledger(tmp_path / "faults").entries()) == 1


def test_faults_after_the_run_are_not_started(fake, tmp_path: Path) -> None:
    s, _ = scheduler(fake, [e(0, 50, "mesh_delay", {"route": "ner"}, 1, delay=1)], tmp_path)
    (out,) = s.run(until_s=10)
    assert not out.injected
    assert "not started" in (out.error or "")


def test_stop_from_another_thread_rolls_back_at_once(fake, tmp_path: Path) -> None:
    s, _ = scheduler(fake, [e(0, 0, "mesh_delay", {"route": "ner"}, delay=1)], tmp_path, clock=None)
    s.clock = __import__("chaos.scheduler", fromlist=["SystemClock"]).SystemClock(s._stop)
    s.start(until_s=60)
    deadline = time.monotonic() + 5
    while not fake.active_injections() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.active_injections()
    t = threading.Thread(target=s.rollback_all)
    t.start()
    t.join(5)
    s.join(5)
    assert not s.running
    assert fake.active_injections() == []
