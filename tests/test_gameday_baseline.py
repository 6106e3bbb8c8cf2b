"""Regression as a gate: ``msai baseline save NAME`` and ``{gate: baseline, name: NAME}``.
Game days on the FakePlatform (its latency: base x uniform(0.5, 1.5), seeded)."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from chaos import Ledger
from chaos.testing import FakePlatform, fake_load
from harness.errors import ConfigError
from harness.platform.base import StackSpec
from harness.scenario import parse_scenario
from msai.gameday import run_scenario
from msai.gameday.baseline import baseline, baseline_path

DAY = """
name: regression-day
platform: [local]
load: {shape: open-loop, rate: 80, duration: 8s, mix: {ner: 1.0}}
faults: []
expect:
  - {gate: baseline, name: fast, route: ner, metric: p50_ms, threshold: 0.2}
observe: {interval: 0.5s}
"""


@pytest.fixture(autouse=True)
def _home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MSAI_HOME", str(tmp_path / "home"))


def day(tmp_path: Path, base_ms: float, seed: int):
    platform = FakePlatform(base_latency_ms=base_ms, seed=seed)
    platform.up(StackSpec())
    return run_scenario(
        parse_scenario(DAY, source="day.yaml"),
        platform=platform,
        load_runner=fake_load,
        runs_dir=tmp_path / "home" / "runs",
        ledger=Ledger(tmp_path / "faults"),
    )


def test_a_2x_latency_regression_is_caught_and_a_rerun_is_not_a_change(tmp_path) -> None:
    first = day(tmp_path, 20.0, seed=1)
    assert first.gates[0]["verdict"] == "inconclusive"  # no baseline yet: nothing to compare
    out = CliRunner().invoke(baseline, ["save", "fast", str(first.run_dir)])
    assert out.exit_code == 0, out.output
    assert baseline_path("fast").is_file()

    rerun = day(tmp_path, 20.0, seed=2)  # the same build, other random draws
    assert rerun.gates[0]["verdict"] == "pass", rerun.explain()

    slower = day(tmp_path, 40.0, seed=3)  # every request twice as slow
    [gate] = slower.gates
    assert gate["verdict"] == "fail", slower.explain()
    assert gate["observed"]["interval"][0] > 0.2
    assert slower.verdict == "fail"

    # 20 % slower against a 20 % threshold: the interval straddles it, the data cannot tell
    edge = day(tmp_path, 24.0, seed=4)
    [gate] = edge.gates
    low, high = gate["observed"]["interval"]
    assert low < 0.2 < high, gate
    assert gate["verdict"] == "inconclusive"


def test_the_newest_run_is_saved_by_default_and_names_are_plain(tmp_path) -> None:
    day(tmp_path, 20.0, seed=1)
    out = CliRunner().invoke(baseline, ["save", "latest"])
    assert out.exit_code == 0, out.output
    assert "latest.json" in out.output
    with pytest.raises(ConfigError):
        baseline_path("../escape")


def test_a_bad_spec_names_the_field() -> None:
    with pytest.raises(ConfigError, match="metric"):
        parse_scenario(DAY.replace("metric: p50_ms", "metric: p42"), source="day.yaml")
