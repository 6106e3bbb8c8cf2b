"""Fault proofs: each fault's effect observed from the system decides the verdict, never the
injector's word. Game days on the FakePlatform, proofs over real run records."""

import time
from pathlib import Path

import pytest

from chaos import Ledger
from chaos.base import FaultPlan, ProbeResult, prove_moved, prove_replaced
from chaos.faults import get_fault
from chaos.testing import FakePlatform, fake_load
from harness.gates import GateContext, Window
from harness.platform.base import StackSpec
from harness.record import read_events
from harness.scenario import FaultEntry, parse_scenario
from msai.gameday import prove_entries, run_scenario

DAY = """
name: proof-day
platform: [local]
steady_state:
  - {probe: http, route: ner}
load: {shape: open-loop, rate: 60, duration: 3s, mix: {ner: 1.0}}
faults: FAULTS
expect:
  - {gate: error_ratio, max: 0.9}
observe: {interval: 0.2s}
"""


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MSAI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MSAI_CHAOS_PROBE_DELAY_S", "0")
    monkeypatch.setenv("MSAI_CHAOS_PROOF_TIMEOUT_S", "1")
    monkeypatch.setenv("MSAI_CHAOS_PROOF_POLL_S", "0.05")


@pytest.fixture
def fake() -> FakePlatform:
    p = FakePlatform()
    p.up(StackSpec())
    return p


def day(tmp_path: Path, platform: FakePlatform, faults: str):
    scenario = parse_scenario(DAY.replace("FAULTS", faults), source="day.yaml")
    return run_scenario(
        scenario,
        platform=platform,
        load_runner=fake_load,
        runs_dir=tmp_path / "runs",
        ledger=Ledger(tmp_path / "faults"),
    )


def test_an_abort_seen_by_clients_is_proved_and_shown_beside_the_fault(tmp_path, fake) -> None:
    result = day(
        tmp_path,
        fake,
        "[{at: 1s, kind: mesh_abort, target: {route: ner}, percent: 40, duration: 1s}]",
    )
    assert result.verdict == "pass", result.explain()
    [fault] = result.faults
    assert fault["proof"]["status"] == "observed"
    assert fault["proof"]["source"] == "record"
    assert "answered HTTP 503" in fault["proof"]["detail"]
    assert "proof observed" in result.explain()
    proofs = [e for e in read_events(result.run_dir) if e.kind == "fault_proof"]
    assert [p["status"] for p in proofs] == ["observed"]


def test_a_fault_whose_effect_is_absent_fails_the_verdict(tmp_path, fake) -> None:
    """The platform says the abort is set, but no client ever sees it: not observed, fail."""
    real = fake.mesh_fault

    def set_but_ineffective(route: str, **kw: object):
        inj = real(route, **kw)  # recorded as injected ...
        fake.revert(inj)  # ... but without effect
        return inj

    fake.mesh_fault = set_but_ineffective  # type: ignore[method-assign]
    result = day(
        tmp_path,
        fake,
        "[{at: 1s, kind: mesh_abort, target: {route: ner}, percent: 40, duration: 1s}]",
    )
    assert result.verdict == "fail", result.explain()
    assert result.faults[0]["proof"]["status"] == "not_observed"
    assert any("effect not observed" in r for r in result.reasons)


def test_a_kill_the_platform_never_replaces_is_not_observed(fake) -> None:
    before = sorted(r.name for r in fake.replicas("ner") if r.ready)
    result = prove_replaced(fake, "ner", before, 1, time.time())  # nothing was killed
    assert result.status == "not_observed"
    assert "not replaced" in result.detail
    fake.kill("ner", 1)
    assert prove_replaced(fake, "ner", before, 1, time.time()).status == "observed"


def test_a_node_that_keeps_its_replicas_is_not_observed(fake) -> None:
    node = fake.nodes()[0]
    hit = {
        r.service: (1, 2) for s in fake.services() for r in fake.replicas(s) if r.node == node.name
    }
    assert prove_moved(fake, [node.name], hit, time.time() + 0.2).status == "not_observed"
    inj = fake.drain(node.name)
    assert prove_moved(fake, [node.name], {}, time.time() + 0.2).status == "observed"
    fake.revert(inj)


def test_a_probe_that_crashes_is_inconclusive_not_a_pass(
    tmp_path, fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> ProbeResult:
        raise OSError("platform API down")

    monkeypatch.setattr(get_fault("kill"), "probe", broken)
    result = day(tmp_path, fake, "[{at: 1s, kind: kill, target: {service: ner}}]")
    assert result.faults[0]["proof"]["status"] == "unobservable"
    assert "platform API down" in result.faults[0]["proof"]["detail"]
    assert result.verdict == "inconclusive", result.explain()


def test_null_run_fails_the_proofs_of_the_scenario_faults(tmp_path, fake) -> None:
    """Re-judged over a run without faults, a delay and an abort are not observed."""
    null = day(tmp_path, fake, "[]")
    assert null.verdict == "pass"
    entries = [
        FaultEntry(0, 1.0, "mesh_delay", {"route": "ner"}, {"delay": "200ms", "percent": 50}, 1.0),
        FaultEntry(1, 1.0, "mesh_abort", {"route": "ner"}, {"percent": 40}, 1.0),
    ]
    ctx = GateContext.from_record(null.run_dir)
    proofs = prove_entries(entries, ctx)
    assert [p["verdict"] for p in proofs] == ["fail", "fail"], proofs


def test_a_delay_on_a_slow_route_is_proved_by_what_it_adds(tmp_path) -> None:
    """A route already slower than the delay: the delay shows as latency added on top."""
    slow = FakePlatform(base_latency_ms=400.0)
    slow.up(StackSpec())
    result = day(
        tmp_path,
        slow,
        "[{at: 1s, kind: mesh_delay, target: {route: ner}, delay: 300ms, percent: 50,"
        " duration: 1s}]",
    )
    assert result.faults[0]["proof"]["status"] == "observed", result.explain()
    ctx = GateContext.from_record(result.run_dir)
    # the same proof over seconds without the fault: nothing added
    [null] = prove_entries(
        [FaultEntry(0, 2.0, "mesh_delay", {"route": "ner"}, {"delay": "300ms", "percent": 50}, 1)],
        ctx,
    )
    assert null["status"] == "not_observed", null


def test_mesh_fault_probe_defers_to_the_record() -> None:
    fault = get_fault("mesh_abort")
    entry = FaultEntry(0, 0.0, "mesh_abort", {"route": "ner"}, {"percent": 5}, 1.0)
    plan: FaultPlan = fault.validate(entry, None)
    assert isinstance(fault.probe(plan, FakePlatform(), []), ProbeResult)
    empty = GateContext([])
    assert fault.prove(plan, Window(0, 1), empty).status == "unobservable"  # type: ignore[attr-defined]


def test_the_report_shows_each_faults_proof_beside_it(tmp_path, fake) -> None:
    from reports.html import render_html
    from reports.model import load_run

    result = day(
        tmp_path,
        fake,
        "[{at: 1s, kind: mesh_abort, target: {route: ner}, percent: 40, duration: 1s}]",
    )
    run = load_run(result.run_dir)
    assert [f.proof for f in run.faults] == ["observed"]
    page = render_html(run)
    assert "proof (effect observed)" in page
    assert "observed: " in page
