"""canary_fault against the FakePlatform: injection on the canary only, rollback detection,
and the revert (also from a second process through the world file) restoring hooks and weight."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from chaos.faults import FAULTS
from chaos.faults.canary_fault import CanaryFault
from chaos.testing import FakePlatform
from harness.errors import ConfigError, Unsupported
from harness.platform.base import StackSpec
from harness.scenario import FaultEntry

CANARY = {"ner.canary.enabled": True, "ner.canary.weight": 20}


def _entry(**params: Any) -> FaultEntry:
    return FaultEntry(
        index=0, at_s=0.0, kind="canary_fault", target={"service": "ner"}, params=params
    )


def _up(world: Path | None = None, overrides: dict[str, Any] | None = None) -> FakePlatform:
    p = FakePlatform(world)
    p.up(StackSpec(profile="minimal", overrides=dict(CANARY if overrides is None else overrides)))
    return p


def test_registered() -> None:
    assert isinstance(FAULTS["canary_fault"], CanaryFault)
    assert FAULTS["canary_fault"].reverts


def test_errors_hit_the_canary_share_only() -> None:
    p = _up()
    fault = CanaryFault()
    plan = fault.validate(_entry(error_ratio=1.0), p)
    [inj] = fault.inject(plan, p)
    assert inj.target == "ner/canary"
    assert inj.undo["weight"] == 20
    statuses = [p.request("ner").status for _ in range(2000)]
    share = statuses.count(500) / len(statuses)
    assert 0.15 < share < 0.25  # every canary request fails, no stable one does
    assert all(r.status == 200 for r in (p.request("vision") for _ in range(200)))
    fault.rollback(plan, p, [inj])
    assert p.active_injections() == []
    assert all(p.request("ner").status == 200 for _ in range(500))


def test_probe_measures_an_automatic_rollback_and_revert_restores_the_weight() -> None:
    p = _up()
    fault = CanaryFault()
    plan = fault.validate(_entry(rollback_within="5s"), p)
    injections = fault.inject(plan, p)
    # what the platform's rollback controller does when CanaryHighErrorRatio fires
    timer = threading.Timer(0.3, p.set_canary_weight, args=("ner", 0))
    timer.start()
    result = fault.probe(plan, p, injections)
    timer.join()
    # the proof (the canary's own error ratio) needs Prometheus, which the fake lacks
    assert result.status == "unobservable", result.detail
    assert "Prometheus" in result.detail
    m = {x["name"]: x["value"] for x in result.measurements}
    assert m["canary_rolled_back"] == 1.0
    assert 0.2 <= m["canary_rollback_s"] < 5
    assert m["canary_weight"] == 20
    assert "canary_share" not in m  # the fake runs no Prometheus: no figure, not a made-up one
    fault.rollback(plan, p, injections)
    assert p.canary_weights() == {"ner": 20}


def test_no_rollback_is_reported_not_hidden() -> None:
    p = _up()
    fault = CanaryFault()
    plan = fault.validate(_entry(rollback_within="1s"), p)
    injections = fault.inject(plan, p)
    result = fault.probe(plan, p, injections)
    assert not result.ok
    m = {x["name"]: x["value"] for x in result.measurements}
    assert m["canary_rolled_back"] == 0.0
    assert "canary_rollback_s" not in m
    fault.rollback(plan, p, injections)


def test_a_later_process_reverts_it(tmp_path: Path) -> None:
    world = tmp_path / "world.json"
    p = _up(world)
    fault = CanaryFault()
    plan = fault.validate(_entry(), p)
    [inj] = fault.inject(plan, p)
    p.set_canary_weight("ner", 0)  # rolled back automatically, then the harness died
    FakePlatform().revert(inj)  # a fresh process, from the ledger's copy of the injection
    again = FakePlatform(world)
    assert again.active_injections() == []
    assert again.canary_weights() == {"ner": 20}


def test_validate_and_inject_refuse_clearly() -> None:
    with pytest.raises(ConfigError, match="error_ratio"):
        CanaryFault().validate(_entry(error_ratio=1.5), None)
    with pytest.raises(ConfigError, match="runs no canary"):
        CanaryFault().validate(_entry(), _up(overrides={}))
    p = _up()
    p.set_canary_weight("ner", 0)
    fault = CanaryFault()
    with pytest.raises(ConfigError, match="weight is 0"):
        fault.inject(fault.validate(_entry(), p), p)
    assert p.active_injections() == []


def test_platform_without_weights_is_unsupported() -> None:
    class Bare:
        name = "bare"

    with pytest.raises(Unsupported):
        CanaryFault().inject(CanaryFault().validate(_entry(), None), Bare())  # type: ignore[arg-type]


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


@pytest.mark.parametrize("died", ["after_inject", "mid_inject"])
def test_the_ledger_recovers_a_canary_fault_of_a_dead_run(tmp_path: Path, died: str) -> None:
    import os

    from chaos.ledger import Ledger, has_open_entries, recover_orphans

    world = tmp_path / "world.json"
    p = _up(world)
    fault = CanaryFault()
    plan = fault.validate(_entry(), p)
    ledger = Ledger(tmp_path / "faults")
    entry = ledger.open(
        run_id="r", platform="fake", kind="canary_fault", targets=plan.targets, plan=plan.to_json()
    )
    injections = fault.inject(plan, p)
    if died == "after_inject":
        entry = ledger.injected(entry, injections)
    path = ledger.open_dir / f"{entry.id}.json"
    path.write_text(path.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {_dead_pid()}'))
    report = recover_orphans(lambda name: FakePlatform(world), ledger)
    assert report.reverted, report
    assert FakePlatform(world).active_injections() == []
    assert not has_open_entries(tmp_path)
