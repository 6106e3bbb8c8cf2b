"""What every ``msai`` command shares: exit codes, durations, input files, JSON output.

Exit codes, the same for every command (tests/test_cli_conventions.py runs each rule)::

    0    pass          the command did what it was asked; a judged run passed
    1    fail          a judged run failed a gate; a --fail-on-* condition held
    2    inconclusive  a judged run could not be judged (not steady, too little data)
    3    usage         the command line is wrong: an unknown option, a missing argument,
                       a value that does not parse (``--duration 5x``)
    4    error         a file is missing or malformed, a component would not start,
                       anything else that stopped the command (the message says what)
    130  interrupted   Ctrl-C

A missing input file is an error (4), not a usage error: the command line was well formed,
and the message names the file, as it does for a file that is malformed.

Durations: every option that takes a time accepts what scenario files accept, ``90``
(seconds), ``90s``, ``250ms``, ``2m``, ``1h``, ``1m30s`` (:data:`DURATION`).

``--json``: a command whose output a script reads prints one JSON document on stdout with
it, and nothing else there (:func:`echo_json`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from harness.durations import parse_duration
from harness.errors import ConfigError

__all__ = [
    "DURATION",
    "EXIT_ERROR",
    "EXIT_FAIL",
    "EXIT_INCONCLUSIVE",
    "EXIT_INTERRUPTED",
    "EXIT_PASS",
    "EXIT_USAGE",
    "INPUT_FILE",
    "VERDICT_EXIT",
    "DurationType",
    "InputFileType",
    "echo_json",
]

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_INCONCLUSIVE = 2
EXIT_USAGE = 3
EXIT_ERROR = 4
EXIT_INTERRUPTED = 130

VERDICT_EXIT = {"pass": EXIT_PASS, "fail": EXIT_FAIL, "inconclusive": EXIT_INCONCLUSIVE}

# click's ParamType takes type arguments from click 8.2 (value, input); at run time the plain
# class is the base, so older click still imports this module.
if TYPE_CHECKING:
    _DurationBase = click.ParamType[float, Any]
    _PathBase = click.ParamType[Path, Any]
else:
    _DurationBase = _PathBase = click.ParamType


class DurationType(_DurationBase):
    """Seconds (float) from ``90``, ``90s``, ``250ms``, ``2m``, ``1m30s``; a usage error
    naming the option otherwise."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_duration(value)
        except ConfigError:
            self.fail(f"{value!r} is not a duration (like 90, 90s, 250ms, 2m or 1m30s)", param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "DURATION"


class InputFileType(_PathBase):
    """A file the command reads. Missing, or a folder: :class:`ConfigError` naming it (exit 4,
    like a malformed file), instead of click's usage error."""

    name = "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = Path(value)
        option = param.opts[0] if param is not None and param.opts else None
        if not path.exists():
            raise ConfigError("no such file", source=str(path), field=option)
        if path.is_dir():
            raise ConfigError("is a folder, expected a file", source=str(path), field=option)
        return path


DURATION = DurationType()
INPUT_FILE = InputFileType()


def echo_json(data: Any) -> None:
    """One JSON document on stdout (paths and other objects as strings)."""
    click.echo(json.dumps(data, indent=1, default=str))
