"""Run record -> HTML, Markdown, JSON and JUnit reports, and baseline comparison.

``load_run(dir)`` reads a run directory (:mod:`harness.record`) into :class:`RunData`;
``compare_runs`` labels each metric improved / regressed / inconclusive against a baseline;
``write_reports`` renders and writes the chosen formats atomically. ``msai report`` is the
command line (:mod:`reports.cli`); :mod:`reports.browser` checks a page in headless Chromium.
"""

from reports.baseline import load_baseline, load_comparable, save_baseline
from reports.compare import Comparison, MetricComparison, compare_runs
from reports.digest import REPORT_SCHEMA, render_json_data
from reports.html import render_html
from reports.junit import render_junit
from reports.markdown import render_markdown
from reports.model import RunData, load_run
from reports.synthetic import SyntheticOptions, write_synthetic_run
from reports.writer import FORMATS, write_files, write_reports

__all__ = [
    "FORMATS",
    "REPORT_SCHEMA",
    "Comparison",
    "MetricComparison",
    "RunData",
    "SyntheticOptions",
    "compare_runs",
    "load_baseline",
    "load_comparable",
    "load_run",
    "render_html",
    "render_json_data",
    "render_junit",
    "render_markdown",
    "save_baseline",
    "write_files",
    "write_reports",
    "write_synthetic_run",
]
