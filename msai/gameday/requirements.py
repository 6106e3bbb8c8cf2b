"""What a scenario needs of the platform: checked before anything starts (``requires:``)."""

from __future__ import annotations

from harness.errors import Unsupported
from harness.platform.base import Platform
from harness.scenario import Scenario
from msai.gameday.model import ScenarioSkipped

__all__ = ["check_requirements", "check_static_requirements"]


def _has_prometheus(p: Platform) -> str | None:
    try:
        _ = p.prometheus_url
    except Unsupported as exc:
        return str(exc)
    return None


def _has_alertmanager(p: Platform) -> str | None:
    try:
        _ = p.alertmanager_url
    except Unsupported as exc:
        return str(exc)
    return None


_DYNAMIC = ("service", "canary", "prometheus", "alertmanager")


def check_static_requirements(scenario: Scenario, platform: Platform) -> None:
    """Skip before bringing anything up when a required feature is not one the platform
    declares (``platform.features``); what needs a running stack is checked after ``up``."""
    features = set(getattr(platform, "features", set()) or set())
    missing = [
        r for r in scenario.requires if r.partition(":")[0] not in _DYNAMIC and r not in features
    ]
    if missing:
        have = sorted(features)
        raise ScenarioSkipped(
            f"{scenario.name} needs what {platform.name} lacks: "
            + "; ".join(
                f"{r} (not among the {platform.name} platform's features {have})" for r in missing
            )
        )


def check_requirements(scenario: Scenario, platform: Platform) -> None:
    """Raise :class:`ScenarioSkipped` naming each requirement the platform does not meet.

    ``service:NAME`` (the stack runs NAME), ``canary:SERVICE`` (a canary version runs),
    ``prometheus``, ``alertmanager``; any other name must be in ``platform.features`` (a set
    of strings a backend may declare, e.g. ``backup:postgresql``, ``spot_notices``)."""
    missing = []
    features = set(getattr(platform, "features", set()) or set())
    for req in scenario.requires:
        kind, _, arg = req.partition(":")
        if kind == "service":
            if arg not in platform.services():
                missing.append(f"{req} (the stack runs {platform.services()})")
        elif kind == "canary":
            if not any(r.version == "canary" for r in platform.replicas(arg)):
                missing.append(f"{req} (no canary replica of {arg})")
        elif (kind == "prometheus" and (why := _has_prometheus(platform))) or (
            kind == "alertmanager" and (why := _has_alertmanager(platform))
        ):
            missing.append(f"{req} ({why})")
        elif (
            kind not in ("service", "canary", "prometheus", "alertmanager") and req not in features
        ):
            missing.append(
                f"{req} (not among {platform.name} platform features {sorted(features)})"
            )
    if missing:
        raise ScenarioSkipped(
            f"{scenario.name} needs what {platform.name} lacks: " + "; ".join(missing)
        )
