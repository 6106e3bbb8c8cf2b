"""The pytest plugin: scenario files become items with game-day verdicts; fixtures work."""

import os
import subprocess
import sys
from pathlib import Path

CONFTEST = """
import pytest
from chaos.testing import FakePlatform, fake_load
from msai.pytest_scenarios import PLATFORM_FACTORY, RUN_OPTIONS

def pytest_configure(config):
    config.stash[PLATFORM_FACTORY] = FakePlatform
    config.stash[RUN_OPTIONS] = {"load_runner": fake_load}
"""

DAY = """
name: {name}
platform: [local]
{extra}
steady_state:
  - {{probe: replicas, service: ner, at_least: 1}}
load: {{shape: open-loop, rate: 20, duration: 1s, mix: {{ner: 1.0}}}}
expect:
  - {{gate: error_ratio, max: {max}}}
"""

PY_SUITE = """
def test_fixtures(platform, run_scenario, record):
    assert "ner" in platform.services()
    result = run_scenario('''
name: inline
load: {shape: open-loop, rate: 10, duration: 1s, mix: {ner: 1.0}}
faults:
  - {at: 0s, kind: mesh_abort, target: {route: ner}, percent: 50, duration: 1s}
expect:
  - {gate: error_ratio, max: 0.01}
''')
    assert result.verdict == "fail"
    assert platform.active_injections() == []
    record.emit("note", message="hand-written experiment")
"""


def test_scenarios_are_collected_and_judged(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "scenarios").mkdir(parents=True)
    (root / "conftest.py").write_text(CONFTEST)
    days = {
        "green": DAY.format(name="green", extra="", max=0.5),
        "red": DAY.format(
            name="red",
            extra="faults:\n  - {at: 0s, kind: mesh_abort, target: {route: ner}, percent: 50,"
            " duration: 1s}",
            max=0.01,
        ),
        "unsure": DAY.format(name="unsure", extra="", max=0.5).replace(
            "at_least: 1", "at_least: 9"
        ),
        "lenient": DAY.format(name="lenient", extra="inconclusive: skip", max=0.5).replace(
            "at_least: 1", "at_least: 9"
        ),
        "needs": DAY.format(name="needs", extra="requires: [backup_drill]", max=0.5),
    }
    for name, text in days.items():
        (root / "scenarios" / f"{name}.yaml").write_text(text)
    (root / "scenarios" / "test_suite.py").write_text(PY_SUITE)
    env = {**os.environ, "MSAI_HOME": str(tmp_path / "home"), "MSAI_CHAOS_PROBE_DELAY_S": "0"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "msai.pytest_plugin",
            "-rA",
            "-q",
            "-p",
            "no:cacheprovider",
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
        env=env,
        check=False,
    )
    text = out.stdout + out.stderr
    assert "PASSED scenarios/green.yaml::green" in text, text
    assert "FAILED scenarios/red.yaml::red" in text, text
    assert "error_ratio" in text
    assert "FAILED scenarios/unsure.yaml::unsure" in text, text  # inconclusive fails by default
    assert "SKIPPED" in text
    assert "inconclusive: not steady before" in text
    assert "backup_drill" in text
    assert "PASSED scenarios/test_suite.py::test_fixtures" in text, text
    assert out.returncode == 1
