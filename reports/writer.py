"""Render the chosen formats and write them atomically: every file is rendered first, then
each is written to a temporary name beside its target, synced and renamed, so a crash never
leaves a half-written report (an older complete one stays until the new one replaces it).

:func:`write_reports` is the one call for the run engine (``msai run --report``): a run
directory in, the report files out, with an optional baseline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.errors import RecordError
from reports.atomic import atomic_write
from reports.baseline import load_comparable
from reports.compare import Comparison, compare_runs
from reports.digest import render_json_data
from reports.html import render_html
from reports.junit import render_junit
from reports.markdown import render_markdown
from reports.model import RunData, load_run

__all__ = ["DEFAULT_FORMATS", "FORMATS", "atomic_write", "write_files", "write_reports"]

# format -> (file name, renderer)
FORMATS: dict[str, tuple[str, Callable[[RunData, Comparison | None], str]]] = {
    "html": ("report.html", render_html),
    "md": ("summary.md", render_markdown),
    "json": (
        "report.json",
        lambda run, cmp: json.dumps(render_json_data(run, cmp), indent=2, default=str) + "\n",
    ),
    "junit": ("junit.xml", lambda run, _cmp: render_junit(run)),
}
DEFAULT_FORMATS = ("html", "md", "json")


def write_files(
    run: RunData, formats: Sequence[str], out: Path, comparison: Comparison | None = None
) -> list[Path]:
    """Render every format, then write each atomically into ``out``."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report formats {unknown}; known: {sorted(FORMATS)}")
    rendered = [(FORMATS[f][0], FORMATS[f][1](run, comparison)) for f in formats]
    out.mkdir(parents=True, exist_ok=True)
    return [atomic_write(out / name, text) for name, text in rendered]


def write_reports(
    run: Path | str | RunData,
    *,
    baseline: Path | str | None = None,
    formats: Sequence[str] = DEFAULT_FORMATS,
    out: Path | str | None = None,
    seed: int = 0,
    resamples: int = 2000,
    strict_baseline: bool = False,
) -> Path:
    """Report a run (directory or loaded data) into ``out`` (default ``RUN/report``).

    A ``baseline`` (run directory or baseline file) adds the comparison. A baseline that is
    missing or unreadable raises with ``strict_baseline``; otherwise the report is written
    without the comparison and says why (a scenario's first run has no baseline yet).
    Returns ``report.html`` when HTML was written, else the output directory.
    """
    data = run if isinstance(run, RunData) else load_run(run)
    comparison = None
    if baseline is not None:
        try:
            comparison = compare_runs(
                data, load_comparable(Path(baseline)), seed=seed, resamples=resamples
            )
        except RecordError as exc:
            if strict_baseline:
                raise
            data.warnings.append(f"no baseline comparison: {exc}")
    target = Path(out) if out is not None else data.directory / "report"
    written = write_files(data, formats, target, comparison)
    html = [p for p in written if p.name == FORMATS["html"][0]]
    return html[0] if html else target
