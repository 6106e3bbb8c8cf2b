"""What a game day produces and takes: verdict ranks, the run result, the load request."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.commandline import EXIT_ERROR, VERDICT_EXIT
from harness.platform.base import Endpoint, Platform
from harness.record import RunRecord
from harness.scenario import Scenario
from harness.verdict_text import describe_gate

__all__ = [
    "GateEvaluator",
    "LoadRequest",
    "LoadRunner",
    "RunResult",
    "ScenarioSkipped",
    "exit_code",
    "worst",
]

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
        return exit_code(self.verdict)

    def to_json(self) -> dict[str, Any]:
        """The verdict with its reasons, each gate's and each fault's (``msai run --json``)."""
        return {
            "scenario": self.scenario,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "reasons": list(self.reasons),
            "gates": [
                {
                    "gate": g.get("gate"),
                    "kind": g.get("gate_kind") or g.get("kind"),
                    "verdict": g.get("verdict"),
                    "text": describe_gate(g),
                    "expected": g.get("expected"),
                    "observed": g.get("observed"),
                    "evidence": g.get("evidence"),
                }
                for g in self.gates
            ],
            "faults": list(self.faults),
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "report": str(self.report) if self.report else None,
        }

    def explain(self) -> str:
        lines = [f"{self.scenario}: {self.verdict.upper()}"]
        lines += [f"  - {r}" for r in self.reasons]
        for f in self.faults:
            proof = f.get("proof") or {}
            lines.append(
                f"  fault {f.get('label')}: proof {proof.get('status', 'none')}"
                f" ({proof.get('detail', f.get('error') or 'not proved')})"
            )
        lines += [f"  {describe_gate(g)}" for g in self.gates]
        if self.run_dir:
            lines.append(f"  run record: {self.run_dir}")
        if self.report:
            lines.append(f"  report: {self.report}")
        return "\n".join(lines)


def exit_code(verdict: str) -> int:
    """The exit code every ``msai`` command gives ``verdict`` (an error: ``EXIT_ERROR``)."""
    return VERDICT_EXIT.get(verdict, EXIT_ERROR)


def worst(verdicts: Sequence[str]) -> str:
    return max(verdicts, key=lambda v: _RANK[v], default="pass")
