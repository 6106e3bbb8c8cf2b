"""Render the chosen formats and write them atomically: every file is rendered first, then
each is written to a temporary name beside its target, synced and renamed, so a crash never
leaves a half-written report (an older complete one stays until the new one replaces it)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from reports.compare import Comparison
from reports.digest import render_json_data
from reports.html import render_html
from reports.junit import render_junit
from reports.markdown import render_markdown
from reports.model import RunData

__all__ = ["FORMATS", "atomic_write", "write_reports"]

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


def atomic_write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_reports(
    run: RunData, formats: Sequence[str], out: Path, comparison: Comparison | None = None
) -> list[Path]:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report formats {unknown}; known: {sorted(FORMATS)}")
    rendered = [(FORMATS[f][0], FORMATS[f][1](run, comparison)) for f in formats]
    out.mkdir(parents=True, exist_ok=True)
    return [atomic_write(out / name, text) for name, text in rendered]
