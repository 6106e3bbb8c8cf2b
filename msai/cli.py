"""``msai``: the one command line. Subcommands live beside what they drive and load lazily,
so ``msai --help`` is fast and ``msai serve`` loads no platform, load or chaos code.

Conventions every subcommand keeps (:mod:`harness.commandline` holds them):

\b
- exit codes: 0 pass, 1 fail, 2 inconclusive, 3 usage, 4 error, 130 interrupted; a missing
  or malformed input file is 4, with a message naming the file;
- durations: 90, 90s, 250ms, 2m, 1m30s wherever an option takes a time;
- --json: one JSON document on stdout where a script reads the result;
- --runs-dir: where run records go (default MSAI_RUNS_DIR); --out: where reports go.
"""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

import click

from harness.commandline import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_INTERRUPTED,
    EXIT_PASS,
    EXIT_USAGE,
)

__all__ = [
    "COMMANDS",
    "EXIT_ERROR",
    "EXIT_FAIL",
    "EXIT_INCONCLUSIVE",
    "EXIT_INTERRUPTED",
    "EXIT_PASS",
    "EXIT_USAGE",
    "main",
]

# name -> ("module", "attribute", "one-line help"). The module owns the command.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "info": ("msai.info", "info", "Show versions, binaries and where things live."),
    "serve": ("modelserve.cli", "serve", "Run one model-server replica in the foreground."),
    "report": ("reports.cli", "report", "Write HTML/Markdown/JSON reports of a run; compare."),
    "models": ("modelserve.models.cli", "models", "Build and publish the bundled models."),
    "run": ("msai.gameday", "run", "Run scenario files (game days): pass/fail/inconclusive."),
    "baseline": ("msai.gameday.baseline", "baseline", "Save a run as a named baseline to gate on."),
    "up": ("harness.platform.local.cli", "up", "Bring the local stack up and wait until ready."),
    "status": ("harness.platform.local.cli", "status", "Show the local stack: URLs, replicas."),
    "logs": ("harness.platform.local.cli", "logs", "Print a local service's logs."),
    "down": ("harness.platform.local.cli", "down", "Stop the local stack and crash leftovers."),
    "bench": ("msai.bench", "bench", "Benchmarks that print figures and ratios."),
    "load": ("loadtests.cli", "load", "Run an open-loop load by hand; search the max rate."),
    "cluster": ("harness.cluster.cli", "cluster", "A real Kubernetes cluster here: up, down."),
    "kind": ("harness.platform.kubernetes.cli", "kind", "A kind cluster with the chart: up, down."),
    "eks": ("harness.platform.kubernetes.cli", "eks", "Check the EKS target against allow-lists."),
    "export": ("harness.platform.kubernetes.cli", "export", "A scenario as LitmusChaos manifests."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        cmd = getattr(importlib.import_module(module), attr)
        if not isinstance(cmd, click.Command):
            raise TypeError(f"{module}.{attr} is not a click command")
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Use the registry's help line so listing commands imports nothing heavy.
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modelserve-proving-ground", prog_name="msai")
def cli() -> None:
    """ModelServeAI proving ground: serve models, bring the stack up, load it, break it, report.

    \b
    Exit codes (every command): 0 pass, 1 fail, 2 inconclusive, 3 usage, 4 error
    (a missing or malformed file included), 130 interrupted.
    Durations: 90, 90s, 250ms, 2m, 1m30s. --json: machine-readable output on stdout.
    """
    _recover_faults()


def _recover_faults() -> None:
    """Roll back faults a dead harness left (the chaos ledger); one scandir when there are none.
    Never stops the command: what cannot be reverted is reported and retried next time."""
    try:
        from chaos.ledger import has_open_entries

        if not has_open_entries():
            return
        from chaos.recovery import recover

        for line in recover().lines():
            click.echo(f"msai: {line}", err=True)
    except Exception as exc:  # recovery must not break an unrelated command
        click.echo(f"msai: warning: fault recovery failed: {type(exc).__name__}: {exc}", err=True)


def main(argv: list[str] | None = None) -> NoReturn:
    from harness.errors import HarnessError

    try:
        rv = cli.main(args=argv, prog_name="msai", standalone_mode=False)
        sys.exit(rv if isinstance(rv, int) else EXIT_PASS)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except HarnessError as exc:
        click.echo(f"msai: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # a ModelServeError from `serve`/`models`, kept off the harness tree
        if type(exc).__module__.startswith("modelserve."):
            click.echo(f"msai: error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        raise
