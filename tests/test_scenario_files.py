"""The game days in scenarios/: valid, planned without refusals, and short in CI."""

from pathlib import Path

import pytest

from chaos import FAULTS
from harness.scenario import load_scenario
from msai.gameday import dry_run_plan, load_duration

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))
GAME_DAYS = {
    "baseline",
    "spot-interruption",
    "mesh-faults",
    "autoscale-up",
    "scale-to-zero",
    "alerting",
    "backup-restore",
    "canary",
    "pipeline-crash",
    "observability",
}


def test_the_ten_game_days_exist() -> None:
    assert {p.stem for p in SCENARIOS} == GAME_DAYS


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_game_day_is_valid_and_plans_cleanly(path: Path) -> None:
    for profile in (None, "ci"):
        scenario = load_scenario(path, profile=profile)
        assert scenario.name == path.stem
        assert "local" in scenario.platforms
        lines, ok = dry_run_plan(scenario)
        assert ok, "\n".join(lines)
        assert all(f.kind in FAULTS for f in scenario.faults)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_ci_profile_is_short(path: Path) -> None:
    """Load under 2 minutes in CI (the stack's start comes on top, shared between items)."""
    scenario = load_scenario(path, profile="ci")
    assert load_duration(scenario) <= 110
    for fault in scenario.faults:
        assert fault.at_s < max(load_duration(scenario), 1)


def test_ci_profiles_together_fit_the_budget() -> None:
    total = sum(load_duration(load_scenario(p, profile="ci")) for p in SCENARIOS)
    # ten game days; with each stack's start the scenarios took ~6 min of the CI run
    assert total <= 460, f"{total:.0f} s of load in CI across the game days"
