"""What a game day produces and takes: verdict ranks, the run result, the load request."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.platform.base import Endpoint, Platform
from harness.record import RunRecord
from harness.scenario import Scenario

__all__ = [
    "EXIT_CODES",
    "GateEvaluator",
    "LoadRequest",
    "LoadRunner",
    "RunResult",
    "ScenarioSkipped",
    "worst",
]

EXIT_CODES = {"pass": 0, "fail": 1, "inconclusive": 2, "error": 4}
_RANK = {"pass": 0, "inconclusive": 1, "fail": 2, "error": 3}


class ScenarioSkipped(Exception):
    """The scenario cannot run here (platform not listed, a required feature missing)."""


@dataclass(frozen=True)
class LoadRequest:
    """What a load runner gets: the scenario's ``load:`` block and where to send it."""

    spec: dict[str, Any]
    endpoints: dict[str, Endpoint]
    record: RunRecord
    seed: int
    stop: threading.Event
    platform: Platform
    source: str


LoadRunner = Callable[[LoadRequest], None]
GateEvaluator = Callable[[Scenario, Path, dict[str, Any]], list[dict[str, Any]]]


@dataclass
class RunResult:
    scenario: str
    verdict: str
    run_dir: Path | None
    reasons: list[str] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    report: Path | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def explain(self) -> str:
        lines = [f"{self.scenario}: {self.verdict.upper()}"]
        lines += [f"  - {r}" for r in self.reasons]
        for f in self.faults:
            proof = f.get("proof") or {}
            lines.append(
                f"  fault {f.get('label')}: proof {proof.get('status', 'none')}"
                f" ({proof.get('detail', f.get('error') or 'not proved')})"
            )
        for g in self.gates:
            lines.append(
                f"  gate {g.get('gate')}: {g.get('verdict')} (expected {g.get('expected')}, "
                f"observed {g.get('observed')})"
            )
        if self.run_dir:
            lines.append(f"  run record: {self.run_dir}")
        if self.report:
            lines.append(f"  report: {self.report}")
        return "\n".join(lines)


def worst(verdicts: Sequence[str]) -> str:
    return max(verdicts, key=lambda v: _RANK[v], default="pass")
