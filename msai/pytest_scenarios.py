"""Scenario files as pytest items, and the fixtures Python suites use (the plugin's engine).

``scenarios/*.yaml`` are collected as one item each and run through :mod:`msai.gameday`
with the same verdicts as ``msai run``:

    pass          passed
    fail          failed, with the gates and reasons
    error         failed (the experiment could not be carried out), with the reason
    inconclusive  failed by default: a game day that proved nothing must not read green in CI.
                  A scenario may say ``inconclusive: skip`` (reported as skipped, with why) or
                  ``inconclusive: pass`` (for exploratory scenarios).
    skipped       the platform is not in the scenario's ``platform:`` list, or it lacks what
                  ``requires:`` names: skipped with the missing piece named.

Scenarios are short by default and run with the ``ci`` profile (``--scenario-profile``).
One platform per session is shared by every item and fixture (brought up once per stack
profile, down at the end); a stack already running (``msai up``) is reused and left up.

Seams for tests of this plugin (set in a conftest's ``pytest_configure``):
``config.stash[PLATFORM_FACTORY]`` builds the platform (e.g. ``chaos.testing.FakePlatform``),
``config.stash[RUN_OPTIONS]`` passes keyword arguments to :func:`msai.gameday.run_scenario`
(``load_runner``, ``evaluate``...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError, HarnessError, Unsupported
from harness.platform.base import Platform, StackSpec

__all__ = [
    "PLATFORM_FACTORY",
    "POOL",
    "RUN_OPTIONS",
    "PlatformPool",
    "ScenarioFailed",
    "ScenarioFile",
    "ScenarioItem",
    "is_scenario_file",
]

PLATFORM_FACTORY = pytest.StashKey[Callable[[], Platform]]()
RUN_OPTIONS = pytest.StashKey[dict[str, Any]]()
POOL = pytest.StashKey["PlatformPool"]()


def is_scenario_file(path: Path) -> bool:
    return path.suffix in (".yaml", ".yml") and path.parent.name == "scenarios"


class PlatformPool:
    """The session's platform: up once per stack, reused by every scenario and fixture."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.name = str(config.getoption("--platform"))
        self.platform: Platform | None = None
        self.stack_key: str | None = None
        self.owned = False

    def _make(self) -> Platform:
        factory = self.config.stash.get(PLATFORM_FACTORY, None)
        if factory is not None:
            return factory()
        from harness.platform import get_platform

        return get_platform(self.name)

    def peek(self) -> Platform:
        """The platform object, not necessarily up (to read what it declares)."""
        return self.platform if self.platform is not None else self._make()

    def get(self, stack: dict[str, Any] | None = None) -> Platform:
        stack = dict(stack or {})
        spec = StackSpec(
            profile=str(stack.get("profile", "default")),
            values_file=stack.get("values_file"),
            overrides=dict(stack.get("overrides", {})),
        )
        key = repr((spec.profile, spec.values_file, sorted(spec.overrides.items())))
        if self.platform is not None and (key == self.stack_key or not self.owned):
            return self.platform
        self.close()
        platform = self._make()
        running = getattr(platform, "running", None)
        if callable(running) and running():
            self.platform, self.stack_key, self.owned = platform, key, False  # msai up's stack
            return platform
        platform.up(spec)
        self.platform, self.stack_key, self.owned = platform, key, True
        return platform

    def close(self) -> None:
        if self.platform is not None and self.owned:
            self.platform.down()
        self.platform, self.stack_key, self.owned = None, None, False


class ScenarioFailed(Exception):
    """A scenario's verdict was not a pass; the message is the explanation."""


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioItem(pytest.Item):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(pytest.mark.slow)

    def runtest(self) -> None:
        from harness.scenario import load_scenario
        from msai.gameday import ScenarioSkipped, check_static_requirements, run_scenario

        config = self.config
        profile = config.getoption("--scenario-profile") or None
        scenario = load_scenario(self.path, profile=None if profile == "none" else profile)
        name = str(config.getoption("--platform"))
        if name not in scenario.platforms and PLATFORM_FACTORY not in config.stash:
            pytest.skip(f"{scenario.name} runs on {scenario.platforms}, not {name}")
        pool = config.stash[POOL]
        try:
            check_static_requirements(scenario, pool.peek())
        except ScenarioSkipped as exc:
            pytest.skip(str(exc))
        try:
            platform = pool.get(scenario.stack)
        except Unsupported as exc:
            pytest.skip(str(exc))
        try:
            result = run_scenario(
                scenario,
                platform=platform,
                runs_dir=config.stash.get(RUN_OPTIONS, {}).get("runs_dir"),
                **{k: v for k, v in config.stash.get(RUN_OPTIONS, {}).items() if k != "runs_dir"},
            )
        except ScenarioSkipped as exc:
            pytest.skip(str(exc))
        self.user_properties.append(("verdict", result.verdict))
        self.user_properties.append(("run_dir", str(result.run_dir)))
        if result.verdict == "pass":
            return
        if result.verdict == "inconclusive" and scenario.inconclusive == "pass":
            return
        if result.verdict == "inconclusive" and scenario.inconclusive == "skip":
            pytest.skip("inconclusive: " + "; ".join(result.reasons))
        raise ScenarioFailed(result.explain())

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, (ScenarioFailed, ConfigError, HarnessError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"scenario {self.path.name}"
