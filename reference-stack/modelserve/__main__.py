"""``python -m modelserve serve KIND --port N``: the servers without the harness installed
(what a container image runs); the same command as ``msai serve``."""

from __future__ import annotations

import click

from modelserve.cli import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """ModelServeAI model servers."""


main.add_command(serve)

if __name__ == "__main__":
    main(prog_name="python -m modelserve")
