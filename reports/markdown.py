"""A short Markdown summary for CI logs and pull-request comments."""

from __future__ import annotations

import json
from typing import Any

from reports.compare import Comparison
from reports.model import RunData

__all__ = ["render_markdown"]

_NONE = "\u2013"  # an en dash: no value

_ICON = {
    "pass": "✅",
    "fail": "❌",
    "inconclusive": "⚠️",
    "error": "💥",
    "partial": "⏸️",
    "improved": "🟢",
    "regressed": "🔴",
}


def _cell(v: Any) -> str:
    if v is None:
        return _NONE
    text = v if isinstance(v, str) else json.dumps(v, default=str, separators=(", ", ": "))
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 120 else text[:117] + "..."


def _num(v: float | None) -> str:
    return _NONE if v is None else f"{v:.4g}"


def render_markdown(run: RunData, comparison: Comparison | None = None) -> str:
    head = "PARTIAL" if run.partial else run.verdict.upper()
    tags = " (SYNTHETIC record, not a measurement)" if run.synthetic else ""
    lines = [
        f"## {_ICON.get(run.verdict, '')} {head}: {run.scenario}{tags}",
        "",
        f"Run `{run.run_id}` on `{run.platform}`, {run.duration_s:.1f} s, "
        f"seed {run.seed if run.seed is not None else _NONE}, {run.events} events.",
    ]
    if run.partial:
        lines += ["", "**The run did not finish (no summary.json); what follows is partial.**"]
    if run.error:
        lines += ["", f"Error: `{_cell(run.error)}`"]
    reasons = (run.summary or {}).get("reasons")
    if isinstance(reasons, list) and reasons:
        lines += ["", "Why:"] + [f"- {_cell(str(r))}" for r in reasons[:20]]
    for w in run.warnings:
        lines += ["", f"Warning: {w}"]
    open_faults = [f for f in run.faults if f.open]
    if open_faults:
        ids = ", ".join(f"{f.fault_id} ({f.fault})" for f in open_faults)
        lines += ["", f"**Faults with no end or rollback in the record:** {ids}"]
    lines += ["", "### Gates", ""]
    if run.gates:
        lines += ["| gate | verdict | expected | observed |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {g.gate} | {_ICON.get(g.verdict, '')} {g.verdict} | {_cell(g.expected)} "
            f"| {_cell(g.observed)} |"
            for g in run.gates
        ]
    else:
        lines.append("No gate verdicts were recorded.")
    if run.summaries:
        lines += [
            "",
            "### Load",
            "",
            "| route | sent | errors | sent/s | completed/s | p50 ms | p95 ms | p99 ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {s.route} | {s.sent} | {s.error_count} | {_num(s.rate_rps)} "
            f"| {_num(s.throughput_rps)} | {_num(s.p50_ms)} "
            f"| {_num(s.p95_ms)} | {_num(s.p99_ms)} |"
            for s in run.summaries
        ]
    if run.measurements:
        last = {m.name: m for m in run.measurements}  # polled values: the last one counts
        lines += ["", "### Measurements", ""]
        lines += [f"- {m.name}: {m.value:.4g} {m.unit}" for m in last.values()]
    if run.faults:
        lines += ["", "### Faults", ""]
        for f in run.faults:
            end = f"{f.end:.1f}" if f.end is not None else "never"
            rb = {True: "rolled back", False: "ROLLBACK FAILED", None: "no rollback recorded"}
            lines.append(f"- {f.fault_id} {f.fault}: +{f.start:.1f} → {end} s, {rb[f.rolled_back]}")
    if run.alerts:
        lines += ["", "### Alerts", ""]
        for a in run.alerts:
            states = ", ".join(
                f"{s} +{getattr(a, s):.1f} s"
                for s in ("pending", "firing", "resolved")
                if getattr(a, s) is not None
            )
            lines.append(f"- {a.name}: {states}")
    if comparison is not None:
        lines += [
            "",
            f"### Against baseline `{comparison.baseline_run}`",
            "",
            f"{comparison.confidence:.0%} bootstrap interval of the change; threshold "
            f"±{comparison.threshold:.0%}.",
            "",
            "| route | metric | baseline | current | change | interval | label |",
            "| --- | --- | ---: | ---: | ---: | --- | --- |",
        ]
        for m in comparison.metrics:
            ci = (
                f"[{m.ci_low:+.1%}, {m.ci_high:+.1%}]"
                if m.ci_low is not None and m.ci_high is not None
                else _NONE
            )
            change = _NONE if m.change is None else f"{m.change:+.1%}"
            lines.append(
                f"| {m.route} | {m.metric} | {_num(m.baseline)} | {_num(m.current)} | {change} "
                f"| {ci} | {_ICON.get(m.label, '')} {m.label} |"
            )
    return "\n".join(lines) + "\n"
