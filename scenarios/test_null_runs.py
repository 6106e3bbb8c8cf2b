"""Every shipped scenario can fail: its gates and fault proofs, re-judged over a run where what
the scenario claims to exercise did not happen, do not all pass.

Each :class:`Break` is one such run, recorded on the session's platform right after the
scenario's own game day (``conftest.py`` orders it there, so the stack it left up is reused):

    null     the scenario with its faults removed (for scenarios whose stimulus is the load
             shape, the load flattened to its quiet rate)
    broken   the stack broken the way the scenario's claim reads (baseline: a slow NER)

The run's load is cut to what the catching gates need (their windows and ``within`` fully
covered), which keeps the ten runs to about four minutes; ``catches`` names each gate or proof
that must not pass and the verdict it must get, so a catch is never a gate that merely ran out
of data because the run was cut. ``docs/scenarios.md`` lists the same table; a test keeps them
equal.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.gates import GateContext
from harness.scenario import load_scenario
from msai.gameday import ScenarioSkipped, prove_entries

HERE = Path(__file__).parent
DOCS = HERE.parent / "docs" / "scenarios.md"


@dataclass(frozen=True)
class Break:
    scenario: str
    run: str  # "null" or "broken"
    load: dict[str, Any]
    catches: dict[str, str]  # gate label, or "proof <fault label>" -> verdict it must get
    why: str
    faults: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.scenario}-{self.run}"


def _open(rate: float, seconds: int, mix: dict[str, float], seed: int) -> dict[str, Any]:
    return {"shape": "open-loop", "rate": rate, "duration": f"{seconds}s", "mix": mix, "seed": seed}


BREAKS = [
    Break(
        "baseline",
        "broken",
        _open(16, 10, {"ner": 0.7, "vision": 0.3}, 1),
        {"latency[ner]": "fail"},
        "NER answers 600 ms late (a mesh delay on every request): the p99 SLO catches it",
        [
            {"at": "0s", "kind": "mesh_delay", "target": {"route": "ner"}, "delay": "600ms"},
        ],
    ),
    Break(
        "mesh-faults",
        "null",
        _open(12, 25, {"ner": 1.0}, 3),
        {"proof faults[0] mesh_delay": "fail", "proof faults[1] mesh_abort": "fail"},
        "no delay and no abort reach the clients: both faults' proofs fail",
    ),
    Break(
        "spot-interruption",
        "null",
        _open(12, 20, {"ner": 0.7, "vision": 0.3}, 2),
        {"alert[NodeSpotInterruption]": "fail"},
        "no spot notice: the alert that must fire within 15 s never does",
    ),
    Break(
        "autoscale-up",
        "null",
        _open(2, 34, {"ner": 1.0}, 4),
        {"replicas[ner at_least 2]": "fail"},
        "the trickle never steps up: NER never scales to 2 replicas within 30 s",
    ),
    Break(
        "scale-to-zero",
        "null",
        _open(2, 42, {"ner": 1.0}, 5),
        {"replicas[ner at_most 0]": "fail"},
        "the load never goes idle: NER never scales to zero within 35 s",
    ),
    Break(
        "alerting",
        "null",
        _open(6, 28, {"ner": 1.0}, 6),
        {"alert[RedisDown]": "fail"},
        "Redis stays up: RedisDown never fires within 20 s",
    ),
    Break(
        "backup-restore",
        "null",
        {"shape": "none"},
        {"measurement[rpo_s]": "inconclusive", "measurement[rto_s]": "inconclusive"},
        "no drill: no RPO or RTO is measured, so the gates have no data (a broken schedule "
        "failing the RPO gate is tests/test_chaos_backup_drill.py)",
    ),
    Break(
        "canary",
        "null",
        _open(20, 8, {"ner": 1.0}, 8),
        {"measurement[canary_rolled_back]": "inconclusive"},
        "no bad canary: no rollback is measured",
    ),
    Break(
        "observability",
        "null",
        _open(8, 8, {"ner": 0.45, "vision": 0.3, "text-insights": 0.15, "image-triage": 0.1}, 10),
        {"measurement[canary_rolled_back]": "inconclusive"},
        "no bad canary: the canary analysis never rolls back",
    ),
    Break(
        "pipeline-crash",
        "null",
        _open(2, 20, {"image-triage": 0.85, "vision": 0.15}, 9),
        {"measurement[runs_resumed]": "fail"},
        "no orchestrator is killed: no run is resumed",
    ),
]


def variant(case: Break, profile: str = "ci") -> tuple[str, list[Any]]:
    """The YAML text of the break's run, and the scenario's own fault entries."""
    scenario = load_scenario(HERE / f"{case.scenario}.yaml", profile=profile)
    data = copy.deepcopy(scenario.data)
    data.pop("profiles", None)
    data["name"] = f"{scenario.name}-{case.run}"
    data["faults"] = copy.deepcopy(case.faults)
    data["load"] = copy.deepcopy(case.load)
    return yaml.safe_dump(data, sort_keys=False), scenario.faults


def verdicts(result: Any, entries: list[Any]) -> dict[str, str]:
    """Every gate's verdict by label, and the scenario's faults' proofs over the run record."""
    out = {str(g["gate"]): str(g["verdict"]) for g in result.gates}
    ctx = GateContext.from_record(result.run_dir)
    for p in prove_entries(entries, ctx):
        out[f"proof {p['fault']}"] = str(p["verdict"])
    return out


def test_every_scenario_has_a_break_and_the_docs_list_them() -> None:
    names = {p.stem for p in HERE.glob("*.yaml")}
    assert names == {b.scenario for b in BREAKS}
    docs = DOCS.read_text()
    for b in BREAKS:
        for label, verdict in b.catches.items():
            row = f"| {b.scenario} | {b.run} | `{label}` | {verdict} |"
            assert row in docs, f"{DOCS} lacks the row {row}"


@pytest.mark.parametrize("case", BREAKS, ids=[b.id for b in BREAKS])
def test_text_of_each_break_is_a_valid_scenario(case: Break) -> None:
    from harness.scenario import parse_scenario

    text, _ = variant(case)
    parse_scenario(text, source=f"{case.id}.yaml", profile=None)


@pytest.mark.slow
@pytest.mark.parametrize("case", BREAKS, ids=[b.id for b in BREAKS])
def test_the_scenario_catches_its_break(case: Break, run_scenario: Callable[..., Any]) -> None:
    text, entries = variant(case)
    try:
        result = run_scenario(text, profile=None)
    except ScenarioSkipped as exc:
        pytest.skip(str(exc))
    seen = verdicts(result, entries)
    got = {label: seen.get(label, "absent") for label in case.catches}
    assert got == case.catches, f"{case.id}: {got} (all: {seen})\n{result.explain()}"
