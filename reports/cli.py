"""``msai report RUN [--baseline RUN|FILE] [--format html,md,json,junit] [--out DIR]
[--save-baseline FILE]``.

Exit codes (as every ``msai`` command, :mod:`harness.commandline`): 0 reports written; 1
``--fail-on-regression`` and a metric regressed against the baseline; 3 usage error; 4 the
record is missing or malformed (the message names the file and what is wrong). A partial
record (crashed run) still renders, marked PARTIAL, and exits 0 unless ``--fail-on-partial``.
``--json`` prints what was written and the comparison as JSON.
"""

from __future__ import annotations

from pathlib import Path

import click

from harness.commandline import EXIT_FAIL, EXIT_PASS, echo_json
from harness.errors import RecordError
from reports.baseline import load_comparable
from reports.baseline import save_baseline as write_baseline
from reports.compare import compare_runs
from reports.model import load_run
from reports.writer import FORMATS, write_files

__all__ = ["report"]


def _formats(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in FORMATS]
    if bad or not names:
        raise click.BadParameter(f"{value!r}: choose from {', '.join(FORMATS)}")
    return list(dict.fromkeys(names))


@click.command("report")
@click.argument("run", type=click.Path(path_type=Path))
@click.option(
    "--baseline",
    type=click.Path(path_type=Path),
    help="A baseline (run directory or --save-baseline file) to compare latency, throughput "
    "and errors with.",
)
@click.option(
    "--save-baseline",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write this run as a baseline file (JSON) for later --baseline use.",
)
@click.option(
    "--format",
    "formats",
    default="html,md,json",
    show_default=True,
    callback=_formats,
    help=f"Comma-separated formats: {', '.join(FORMATS)}.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory for the reports (default: RUN/report).",
)
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 if any metric regressed.")
@click.option("--fail-on-partial", is_flag=True, help="Exit 1 if the run never finished.")
@click.option("--seed", default=0, show_default=True, help="Bootstrap seed.")
@click.option("--resamples", default=2000, show_default=True, help="Bootstrap resamples.")
@click.option("--confidence", default=0.95, show_default=True, help="Confidence of the intervals.")
@click.option(
    "--threshold",
    default=0.05,
    show_default=True,
    help="Smallest relative change that counts as improved / regressed.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def report(
    run: Path,
    baseline: Path | None,
    save_baseline: Path | None,
    formats: list[str],
    out: Path | None,
    fail_on_regression: bool,
    fail_on_partial: bool,
    seed: int,
    resamples: int,
    confidence: float,
    threshold: float,
    as_json: bool,
) -> int:
    """Write HTML / Markdown / JSON / JUnit reports for a run record (a run directory).

    \b
    Exit codes: 0 written; 1 --fail-on-regression and a metric regressed, or
    --fail-on-partial and the run never finished; 3 usage; 4 the record is missing
    or malformed (the message names the file and what is wrong).
    """
    if not 0 < confidence < 1:
        raise click.BadParameter("must be between 0 and 1", param_hint="--confidence")
    if resamples < 100:
        raise click.BadParameter("at least 100", param_hint="--resamples")
    data = load_run(run)
    if save_baseline is not None and data.partial:
        raise RecordError(str(run), "partial record (no summary.json): not a baseline")
    comparison = None
    if baseline is not None:
        comparison = compare_runs(
            data,
            load_comparable(baseline),
            seed=seed,
            resamples=resamples,
            confidence=confidence,
            threshold=threshold,
        )
    written = write_files(data, formats, out or run / "report", comparison)
    if save_baseline is not None:
        written.append(write_baseline(data, save_baseline))
    code = EXIT_PASS
    if comparison is not None and fail_on_regression and comparison.regressions:
        code = EXIT_FAIL
    if data.partial and fail_on_partial:
        code = EXIT_FAIL
    if as_json:
        echo_json(
            {
                "run_id": data.run_id,
                "verdict": data.verdict,
                "partial": data.partial,
                "synthetic": data.synthetic,
                "written": [str(p) for p in written],
                "regressions": [
                    {"route": m.route, "metric": m.metric, "change": m.change, "detail": m.detail}
                    for m in (comparison.regressions if comparison is not None else [])
                ],
            }
        )
        return code
    head = "PARTIAL (no summary.json: the run did not finish)" if data.partial else data.verdict
    click.echo(f"run {data.run_id}: {head}" + (" [SYNTHETIC]" if data.synthetic else ""))
    for path in written:
        click.echo(f"  wrote {path}")
    if comparison is not None:
        counts: dict[str, int] = {}
        for m in comparison.metrics:
            counts[m.label] = counts.get(m.label, 0) + 1
        click.echo("  vs baseline: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
        for m in comparison.regressions:
            click.echo(
                f"  regressed: {m.route} {m.metric} {m.change:+.1%} "
                f"[{m.ci_low:+.1%}, {m.ci_high:+.1%}]"
                if m.change is not None and m.ci_low is not None and m.ci_high is not None
                else f"  regressed: {m.route} {m.metric} ({m.detail})",
                err=True,
            )
    if data.partial:
        click.echo(f"msai report: {run}: partial record (no summary.json)", err=True)
    return code
