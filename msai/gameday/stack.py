"""The stack a game day runs on: brought up with the scenario's ``stack:``, or the running one
when its settings are the scenario's.

A stack that already runs (``msai up``) is reused only when it was brought up with the
scenario's settings. When they differ, the difference is named and applied: the stack is
brought up again with the scenario's settings and left running afterwards, as it was found.
A platform that cannot tell what its running stack was brought up with (no
:class:`StackAware`) is not reused blindly: the scenario's stack is brought up over it, which
is what ``up`` does on every backend (Helm upgrade, a fresh local controller).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from harness.platform.base import Platform, StackSpec
from harness.scenario import Scenario
from msai.gameday.requirements import check_static_requirements

__all__ = ["StackAware", "bring_up", "stack_difference", "stack_spec"]


@runtime_checkable
class StackAware(Protocol):
    """A platform that can say whether a stack runs and what it was brought up with."""

    def running(self) -> bool: ...

    def running_stack(self) -> StackSpec | None: ...


def stack_spec(scenario: Scenario) -> StackSpec:
    stack = scenario.stack
    return StackSpec(
        profile=str(stack.get("profile", "default")),
        values_file=stack.get("values_file"),
        overrides=dict(stack.get("overrides", {})),
    )


def _show(value: Any) -> str:
    return "(unset)" if value is None else repr(value)


def stack_difference(running: StackSpec, wanted: StackSpec) -> list[str]:
    """Each setting whose value differs, as ``name: running -> wanted``."""
    out = []
    if running.profile != wanted.profile:
        out.append(f"profile: {running.profile!r} -> {wanted.profile!r}")
    if running.values_file != wanted.values_file:
        out.append(f"values_file: {_show(running.values_file)} -> {_show(wanted.values_file)}")
    for key in sorted(set(running.overrides) | set(wanted.overrides)):
        have, want = running.overrides.get(key), wanted.overrides.get(key)
        if have != want:
            out.append(f"{key}: {_show(have)} -> {_show(want)}")
    return out


def bring_up(scenario: Scenario, name: str, say: Callable[[str], None]) -> tuple[Platform, bool]:
    """The platform with the scenario's stack, and whether this call owns it (brought it up
    where none ran: the caller takes it down). A running stack stays running afterwards."""
    from harness.platform import get_platform

    platform = get_platform(name)
    check_static_requirements(scenario, platform)
    wanted = stack_spec(scenario)
    if isinstance(platform, StackAware) and platform.running():
        current = platform.running_stack()
        diff = stack_difference(current, wanted) if current is not None else ["unknown"]
        if not diff:
            say(f"reusing the running {name} stack (the scenario's settings)")
            return platform, False
        say(
            f"the running {name} stack differs from {scenario.name}'s stack: "
            + "; ".join(diff)
            + ": bringing it up again with the scenario's settings (it stays up afterwards)"
        )
        platform.up(wanted)
        return platform, False
    say(f"bringing up the {name} stack (profile {wanted.profile})")
    platform.up(wanted)
    return platform, True
