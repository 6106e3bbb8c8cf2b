"""``msai run FILE...``: game days from the command line, one verdict each.

Exit codes (:mod:`harness.commandline`): 0 all passed, 1 a gate failed, 2 inconclusive (or
skipped), 4 error. ``--json``: the verdicts, per scenario and gate, as one JSON document on
stdout; the human text and progress go to stderr.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from chaos import Interrupted
from harness.commandline import EXIT_ERROR, EXIT_PASS, echo_json
from harness.platform.base import PLATFORM_NAMES, Platform
from harness.scenario import load_scenario
from msai.gameday.load import load_duration
from msai.gameday.model import ScenarioSkipped, exit_code, worst
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
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the verdicts (per scenario and gate) as one JSON document on stdout.",
)
def run(
    files: tuple[Path, ...],
    platform_name: str,
    dry_run: bool,
    want_report: bool,
    profile: str | None,
    keep_up: bool,
    runs_dir: Path | None,
    as_json: bool,
) -> int:
    """Run scenario FILEs (game days) and print each verdict.

    Exit codes: 0 all passed, 1 a gate failed, 2 inconclusive (or skipped), 4 error.
    --json: the verdicts as one JSON document on stdout (text and progress on stderr).
    """
    if profile is None and os.environ.get("CI") == "true":
        profile = "ci"
    scenarios = [load_scenario(f, profile=profile) for f in files]  # all valid before any runs
    for s in scenarios:
        load_duration(s)
    if dry_run:
        ok = True
        plans = []
        for s in scenarios:
            lines, good = dry_run_plan(s)
            ok = ok and good
            click.echo("\n".join(lines), err=as_json)
            plans.append({"scenario": s.name, "ok": good, "plan": lines})
        code = EXIT_PASS if ok else EXIT_ERROR
        if as_json:
            echo_json({"dry_run": True, "exit_code": code, "scenarios": plans})
        return code
    verdicts: list[str] = []
    outcomes: list[dict[str, Any]] = []

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
                click.echo(f"{s.name}: SKIPPED: {exc}", err=as_json)
                verdicts.append("inconclusive")
                outcomes.append(
                    {"scenario": s.name, "verdict": "inconclusive", "skipped": str(exc)}
                )
                continue
            click.echo(result.explain(), err=as_json)
            verdicts.append(result.verdict)
            outcomes.append(result.to_json())
    except Interrupted as exc:
        click.echo(f"msai run: {exc}: every fault was rolled back", err=True)
        return 128 + exc.signum
    finally:
        if held is not None and not keep_up:
            say(f"bringing the {platform_name} stack down")
            held[1].down()
    verdict = worst(verdicts)
    if as_json:
        echo_json({"verdict": verdict, "exit_code": exit_code(verdict), "scenarios": outcomes})
    return exit_code(verdict)
