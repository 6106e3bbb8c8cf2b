"""Shared by tests/test_monitoring_*.py: the monitoring sources, promtool, contract names."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.binaries import find
from harness.errors import MissingBinary

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "reference-stack" / "monitoring"
RUNBOOKS = ROOT / "docs" / "runbooks"
RULE_FILES = (MONITORING / "recording.rules.yaml", MONITORING / "alerts.rules.yaml")

#: Metrics from outside this repo that rules and dashboards may use.
EXTERNAL_PREFIXES = ("envoy_", "kube_", "process_")
EXTERNAL_NAMES = {"up", "ALERTS", "redis_up", "pg_up"}


def promtool() -> str:
    try:
        return find("promtool")
    except MissingBinary as exc:
        pytest.skip(str(exc))


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


@cache
def generator() -> Any:
    """reference-stack/monitoring/generate.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("monitoring_generate", MONITORING / "generate.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def rules(path: Path) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [r for r in rules(MONITORING / "alerts.rules.yaml") if "alert" in r]


@cache
def contract_metrics() -> frozenset[str]:
    """Metric names the contracts document (docs/contracts.md tables)."""
    text = (ROOT / "docs" / "contracts.md").read_text()
    return frozenset(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))


_TOKEN = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def unknown_metrics(expr: str, recorded: set[str]) -> set[str]:
    """Series names in expr that nothing defines: a recorded name (with ':') must come from a
    recording rule, a modelserve_*/orchestrator_* name from docs/contracts.md (histogram
    suffixes allowed)."""
    out = set()
    # Range and subquery brackets ([1m], [10m:5s]) hold durations, not names.
    for name in _TOKEN.findall(re.sub(r"\[[^\]]*\]", "", expr)):
        if ":" in name:
            if name not in recorded:
                out.add(name)
        elif name.startswith(("modelserve_", "orchestrator_")):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if name not in contract_metrics() and base not in contract_metrics():
                out.add(name)
    return out


def parse_check(exprs: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    """promtool has no parse-only command: check a rule file holding the expressions."""
    path = workdir / "exprs.rules.yaml"
    rule_list = [
        {"record": f"check:expr_{i}", "expr": expr, "labels": {"source": name[:60]}}
        for i, (name, expr) in enumerate(exprs.items())
    ]
    path.write_text(yaml.safe_dump({"groups": [{"name": "exprs", "rules": rule_list}]}))
    return run_promtool("check", "rules", "--lint=none", path)
