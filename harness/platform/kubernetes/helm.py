"""The chart's values for a scenario's stack, and the Helm command that applies them.

A scenario names a ``values.yaml`` profile and dotted overrides (``ner.replicas: 2``); on
Kubernetes they become one values file given to ``helm upgrade --install`` over the chart's own
``values.yaml`` (the one source of stack settings, as the local platform reads it).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError
from harness.platform.base import StackSpec

__all__ = ["CHART_DIR", "chart_values", "merge", "upgrade_command"]

CHART_DIR = Path(__file__).resolve().parents[3] / "reference-stack" / "charts" / "modelserve"


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``, mappings recursively (as Helm merges)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def chart_values(spec: StackSpec, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What to give Helm over the chart's defaults: ``extra`` (e.g. the Terraform outputs'
    ``chart_values``), the profile, then the overrides."""
    path = Path(spec.values_file) if spec.values_file else CHART_DIR / "values.yaml"
    try:
        tree = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read values: {exc}", source=str(path)) from exc
    profiles = (tree or {}).get("profiles") or {}
    if spec.profile not in profiles:
        raise ConfigError(
            f"unknown profile {spec.profile!r}; known: {', '.join(sorted(profiles))}",
            source=str(path),
            field="profiles",
        )
    values = merge(extra or {}, profiles[spec.profile] or {})
    for key, value in spec.overrides.items():
        node = values
        parts = key.split(".")
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"{part} is not a mapping", source=str(path), field=key)
            node = nxt
        node[parts[-1]] = value
    return values


def upgrade_command(
    helm: str,
    release: str,
    values_file: Path,
    *,
    namespace: str,
    context: str = "",
    kubeconfig: str = "",
    timeout_s: float = 600,
) -> list[str]:
    cmd = [helm, "upgrade", "--install", release, str(CHART_DIR), "-n", namespace]
    cmd += ["-f", str(values_file), "--wait", "--timeout", f"{int(timeout_s)}s"]
    if context:
        cmd += ["--kube-context", context]
    if kubeconfig:
        cmd += ["--kubeconfig", kubeconfig]
    return cmd
