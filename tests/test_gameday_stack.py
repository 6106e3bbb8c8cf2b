"""msai run on a running stack: reused only with the scenario's settings, else the difference is
named and applied."""

from __future__ import annotations

from pathlib import Path

import pytest

import harness.platform as platforms
from chaos.testing import FakePlatform
from harness.platform.base import StackSpec
from harness.scenario import parse_scenario
from msai.gameday.stack import StackAware, bring_up, stack_difference

SCENARIO = """
name: reuse-day
stack:
  profile: minimal
  overrides: {ner.replicas: 2, ner.autoscaling.hpa.enabled: false}
expect: [{gate: error_ratio, max: 0.01}]
"""


class RunningFake(FakePlatform):
    """A fake whose stack was brought up earlier (as by ``msai up``) with ``spec``."""

    def __init__(self, spec: StackSpec | None) -> None:
        super().__init__()
        self.spec = spec
        self.ups: list[StackSpec] = []
        if spec is not None:
            super().up(spec)

    def up(self, stack: StackSpec) -> None:
        self.ups.append(stack)
        self.spec = stack
        super().up(stack)

    def running(self) -> bool:
        return self.spec is not None

    def running_stack(self) -> StackSpec | None:
        return self.spec


@pytest.fixture(autouse=True)
def _home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MSAI_HOME", str(tmp_path / "home"))


def _run(monkeypatch: pytest.MonkeyPatch, fake: RunningFake) -> tuple[bool, list[str]]:
    monkeypatch.setattr(platforms, "get_platform", lambda name: fake)
    said: list[str] = []
    _, owned = bring_up(parse_scenario(SCENARIO, source="day.yaml"), "local", said.append)
    return owned, said


def test_the_local_platform_tells_its_running_stack() -> None:
    from harness.platform.local.platform import LocalPlatform

    assert isinstance(LocalPlatform(), StackAware)


def test_difference_names_each_setting() -> None:
    running = StackSpec("minimal", None, {"ner.replicas": 1, "vision.replicas": 2})
    wanted = StackSpec("default", None, {"ner.replicas": 2, "vision.replicas": 2, "x.y": True})
    assert stack_difference(running, wanted) == [
        "profile: 'minimal' -> 'default'",
        "ner.replicas: 1 -> 2",
        "x.y: (unset) -> True",
    ]
    assert stack_difference(wanted, wanted) == []


def test_a_running_stack_with_the_scenarios_settings_is_reused(monkeypatch) -> None:
    same = StackSpec("minimal", None, {"ner.replicas": 2, "ner.autoscaling.hpa.enabled": False})
    fake = RunningFake(same)
    owned, said = _run(monkeypatch, fake)
    assert fake.ups == []
    assert owned is False
    assert "reusing" in said[0]


def test_a_running_stack_that_differs_is_brought_up_with_the_scenarios_settings(
    monkeypatch,
) -> None:
    """The README tour: ``msai up --profile minimal`` then a scenario asking for 2 replicas."""
    fake = RunningFake(StackSpec("minimal"))
    owned, said = _run(monkeypatch, fake)
    assert fake.ups == [
        StackSpec("minimal", None, {"ner.replicas": 2, "ner.autoscaling.hpa.enabled": False})
    ]
    assert owned is False  # it was running before: it stays up afterwards
    assert "ner.replicas: (unset) -> 2" in said[0]
    assert "ner.autoscaling.hpa.enabled: (unset) -> False" in said[0]
    assert len([r for r in fake.replicas("ner") if r.ready]) == 2


def test_no_running_stack_is_brought_up_and_owned(monkeypatch) -> None:
    fake = RunningFake(None)
    owned, _ = _run(monkeypatch, fake)
    assert owned is True
    assert len(fake.ups) == 1


def test_the_local_platform_reads_the_spec_its_controller_runs_with(tmp_path: Path) -> None:
    import json
    import os

    import psutil

    from harness.platform.local.platform import LocalPlatform

    spec = {"profile": "minimal", "values_file": None, "overrides": {"ner.replicas": 2}}
    me = psutil.Process()
    entry = {
        "name": "controller",
        "pid": os.getpid(),  # a live process stands in for the controller
        "create_time": me.create_time(),
        "cmd": ["python", "-m", "harness.platform.local.controller", "--spec", json.dumps(spec)],
        "log": str(tmp_path / "controller.log"),
        "role": "controller",
    }
    home = tmp_path / "local"
    home.mkdir()
    (home / "controller.json").write_text(json.dumps({"port": 1, "entry": entry}))
    assert LocalPlatform(home).running_stack() == StackSpec("minimal", None, {"ner.replicas": 2})
    assert LocalPlatform(tmp_path / "nothing").running_stack() is None
