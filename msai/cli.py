"""``msai``: the one command line. Subcommands live beside what they drive and load lazily,
so ``msai --help`` is fast and ``msai serve`` does not import the harness.

Exit codes: 0 pass, 1 fail, 2 inconclusive, 3 usage error (click), 4 error.
"""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

import click

__all__ = ["COMMANDS", "EXIT_ERROR", "EXIT_FAIL", "EXIT_INCONCLUSIVE", "EXIT_PASS", "main"]

EXIT_PASS, EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_ERROR = 0, 1, 2, 4

# name -> ("module", "attribute", "one-line help"). The module owns the command.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "info": ("msai.info", "info", "Show versions, binaries and where things live."),
    "serve": ("modelserve.cli", "serve", "Run one model-server replica in the foreground."),
    "report": ("reports.cli", "report", "Write HTML/Markdown/JSON reports of a run; compare."),
    "models": ("modelserve.models.cli", "models", "Build and publish the bundled models."),
    "run": ("msai.gameday", "run", "Run scenario files (game days): pass/fail/inconclusive."),
    "up": ("harness.platform.local.cli", "up", "Bring the local stack up and wait until ready."),
    "status": ("harness.platform.local.cli", "status", "Show the local stack: URLs, replicas."),
    "logs": ("harness.platform.local.cli", "logs", "Print a local service's logs."),
    "down": ("harness.platform.local.cli", "down", "Stop the local stack and crash leftovers."),
    "bench": ("msai.bench", "bench", "Benchmarks that print figures and ratios."),
    "load": ("loadtests.cli", "load", "Run an open-loop load by hand; search the max rate."),
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
    """ModelServeAI proving ground: serve models, bring the stack up, load it, break it, report."""
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
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(3)
    except HarnessError as exc:
        click.echo(f"msai: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # a ModelServeError from `serve`/`models`, kept off the harness tree
        if type(exc).__module__.startswith("modelserve."):
            click.echo(f"msai: error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        raise
