"""``msai run FILE...``: game days from the command line, one verdict each.

Exit codes: 0 all passed, 1 a gate failed, 2 inconclusive (or skipped), 4 error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from chaos import Interrupted
from harness.platform.base import PLATFORM_NAMES, Platform
from harness.scenario import load_scenario
from msai.gameday.load import load_duration
from msai.gameday.model import EXIT_CODES, ScenarioSkipped, worst
from msai.gameday.runner import dry_run_plan, run_scenario
from msai.gameday.stack import bring_up

__all__ = ["run"]


@click.command(name="run")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--platform",
    "platform_name",
    type=click.Choice(PLATFORM_NAMES),
    default="local",
    show_default=True,
    help="Where to run.",
)
@click.option("--dry-run", is_flag=True, help="Validate and print the plan; start nothing.")
@click.option("--report", "want_report", is_flag=True, help="Write the HTML report of each run.")
@click.option(
    "--profile",
    default=None,
    help="Apply the scenario's profile NAME (default: ci when CI=true, else none).",
)
@click.option("--keep-up", is_flag=True, help="Leave the stack running after the last scenario.")
@click.option(
    "--runs-dir", type=click.Path(path_type=Path), default=None, help="Where run records go."
)
def run(
    files: tuple[Path, ...],
    platform_name: str,
    dry_run: bool,
    want_report: bool,
    profile: str | None,
    keep_up: bool,
    runs_dir: Path | None,
) -> int:
    """Run scenario FILEs (game days) and print each verdict.

    Exit codes: 0 all passed, 1 a gate failed, 2 inconclusive (or skipped), 4 error.
    """
    if profile is None and os.environ.get("CI") == "true":
        profile = "ci"
    scenarios = [load_scenario(f, profile=profile) for f in files]  # all valid before any runs
    for s in scenarios:
        load_duration(s)
    if dry_run:
        ok = True
        for s in scenarios:
            lines, good = dry_run_plan(s)
            ok = ok and good
            click.echo("\n".join(lines))
        return 0 if ok else EXIT_CODES["error"]
    verdicts = []

    def say(message: str) -> None:
        click.echo(f"msai run: {message}", err=True)

    held: tuple[str, Platform] | None = None  # a stack this command brought up, kept for the next
    try:
        for s in scenarios:
            key = json.dumps(s.stack, sort_keys=True)
            if held is not None and held[0] != key:
                say("bringing the previous stack down (the next scenario needs another)")
                held[1].down()
                held = None
            try:
                if held is None:
                    platform, owned = bring_up(s, platform_name, say)
                    if owned:
                        held = (key, platform)
                result = run_scenario(
                    s,
                    platform=held[1] if held else platform,
                    platform_name=platform_name,
                    runs_dir=runs_dir,
                    report=want_report or None,
                    keep_up=True,
                    echo=say,
                )
            except ScenarioSkipped as exc:
                click.echo(f"{s.name}: SKIPPED: {exc}")
                verdicts.append("inconclusive")
                continue
            click.echo(result.explain())
            verdicts.append(result.verdict)
    except Interrupted as exc:
        click.echo(f"msai run: {exc}: every fault was rolled back", err=True)
        return 128 + exc.signum
    finally:
        if held is not None and not keep_up:
            say(f"bringing the {platform_name} stack down")
            held[1].down()
    return EXIT_CODES[worst(verdicts)]
