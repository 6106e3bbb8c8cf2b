"""The stack a game day runs on: brought up with the scenario's ``stack:``, or the running one."""

from __future__ import annotations

from collections.abc import Callable

from harness.platform.base import Platform, StackSpec
from harness.scenario import Scenario
from msai.gameday.requirements import check_static_requirements

__all__ = ["bring_up", "stack_spec"]


def stack_spec(scenario: Scenario) -> StackSpec:
    stack = scenario.stack
    return StackSpec(
        profile=str(stack.get("profile", "default")),
        values_file=stack.get("values_file"),
        overrides=dict(stack.get("overrides", {})),
    )


def bring_up(scenario: Scenario, name: str, say: Callable[[str], None]) -> tuple[Platform, bool]:
    """The platform with the scenario's stack, and whether this call brought it up (a stack
    that already runs is reused and left running)."""
    from harness.platform import get_platform

    platform = get_platform(name)
    check_static_requirements(scenario, platform)
    running = getattr(platform, "running", None)
    if callable(running) and running():
        say(f"reusing the running {name} stack")
        return platform, False
    spec = stack_spec(scenario)
    say(f"bringing up the {name} stack (profile {spec.profile})")
    platform.up(spec)
    return platform, True
