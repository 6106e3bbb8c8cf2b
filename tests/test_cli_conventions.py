"""One convention for every ``msai`` command (harness.commandline): exit codes, durations,
missing files, readable gate lines, ``--json``, ``msai up`` progress."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest

from harness.commandline import DURATION, EXIT_ERROR, EXIT_USAGE, DurationType, InputFileType
from harness.platform.kubernetes.settings import kind_settings
from harness.platform.local.cli import waiting_text
from harness.verdict_text import describe_gate
from msai.cli import COMMANDS, cli, main

# Options that take a time, by name: each must accept 90s / 2m (DURATION).
_TIME_WORDS = ("duration", "trial", "timeout", "window", "wait", "interval", "warmup")


def _msai(*args: str) -> int:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    return int(exc.value.code or 0)


def _commands() -> list[tuple[str, click.Command]]:
    """Every leaf command, by its full name (``load run``, ``bench serve`` ...)."""
    ctx = click.Context(cli)
    out: list[tuple[str, click.Command]] = []

    def walk(prefix: str, cmd: click.Command, ctx: click.Context) -> None:
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, name
                walk(f"{prefix} {name}".strip(), sub, click.Context(sub, parent=ctx))
        else:
            out.append((prefix, cmd))

    walk("", cli, ctx)
    return out


COMMAND_NAMES = [name for name, _ in _commands()]


def test_the_walk_finds_the_nested_commands() -> None:
    assert {"load run", "load search", "bench serve", "kind down", "report", "run"} <= set(
        COMMAND_NAMES
    )
    assert set(COMMANDS) <= {n.split()[0] for n in COMMAND_NAMES}


@pytest.mark.parametrize(("name", "command"), _commands(), ids=COMMAND_NAMES)
def test_every_time_option_takes_a_duration(name: str, command: click.Command) -> None:
    for param in command.params:
        if not isinstance(param, click.Option) or param.is_flag:
            continue
        long = max(param.opts, key=len)
        if any(word in long for word in _TIME_WORDS):
            assert isinstance(param.type, DurationType), f"msai {name} {long}: {param.type}"
            assert not long.endswith("-s"), f"msai {name} {long}: the unit goes in the value"


@pytest.mark.parametrize(("name", "command"), _commands(), ids=COMMAND_NAMES)
def test_no_command_rejects_a_missing_file_as_usage(name: str, command: click.Command) -> None:
    """click.Path(exists=True) is a usage error (3); input files use INPUT_FILE (4)."""
    for param in command.params:
        if isinstance(param.type, click.Path):
            assert not param.type.exists, f"msai {name} {param.name}: use INPUT_FILE"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("2m", 120.0), ("1m30s", 90.0), ("250ms", 0.25), (1.5, 1.5)],
)
def test_duration_values(value: Any, seconds: float) -> None:
    assert DURATION.convert(value, None, None) == seconds


def test_a_bad_duration_is_a_usage_error_naming_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ("load", "search", "--url", "http://127.0.0.1:9", "--mix", "ner=1", "--p99-ms", "5")
    assert _msai(*args, "--trial", "5x") == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--trial" in err
    assert "'5x' is not a duration" in err


def test_an_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert _msai("report", "--no-such-option") == EXIT_USAGE
    assert _msai("load", "run", "--rate") == EXIT_USAGE


@pytest.mark.parametrize(
    "args",
    [
        ("run", "{missing}"),
        ("export", "litmus", "{missing}"),
        ("load", "run", "--url", "http://127.0.0.1:9", "--expect", "{missing}"),
        ("report", "{missing}"),
        ("up", "--values", "{missing}"),
        ("kind", "up", "-f", "{missing}"),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_a_missing_file_is_an_error_naming_it(
    args: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"
    code = _msai(*(a.format(missing=missing) for a in args))
    assert code == EXIT_ERROR
    assert str(missing) in capsys.readouterr().err


def test_input_file_refuses_a_folder(tmp_path: Path) -> None:
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="is a folder"):
        InputFileType().convert(str(tmp_path), None, None)


def test_kind_down_names_the_default_cluster_the_code_uses() -> None:
    _, command = next(c for c in _commands() if c[0] == "kind down")
    assert f"default {kind_settings().cluster})" in (command.help or "")


def test_serve_usage_names_the_servers_not_the_test_stand_in() -> None:
    _, command = next(c for c in _commands() if c[0] == "serve")
    ctx = click.Context(command, info_name="serve")
    usage = command.get_usage(ctx)
    assert "KIND" in usage
    assert "fake" not in usage
    assert "ner, vision or orchestrator" in command.get_help(ctx)


def _gate(kind: str, verdict: str, expected: dict[str, Any], observed: dict[str, Any], **ev: Any):
    return {
        "gate": f"{kind}[x]",
        "gate_kind": kind,
        "verdict": verdict,
        "expected": expected,
        "observed": observed,
        "evidence": ev,
    }


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        (
            _gate("error_ratio", "pass", {"max": 0.01}, {"ratio": 0.0, "errors": 0, "requests": 9}),
            "gate error_ratio[x]: pass (error ratio 0.0000 <= 0.01; 0 of 9 requests failed)",
        ),
        (
            _gate("latency", "fail", {"p99_ms": 250.0}, {"samples": 900, "p99_ms": 312.25}),
            "gate latency[x]: fail (p99 312.2 ms > 250 ms; 900 samples)",
        ),
        (
            _gate("throughput", "pass", {"min_rps": 40.0}, {"throughput_rps": 41.5}),
            "gate throughput[x]: pass (throughput 41.5 req/s >= 40 req/s)",
        ),
        (
            _gate(
                "replicas",
                "fail",
                {"at_least": 2, "count": "ready", "after_s": None, "within_s": 90.0},
                {"reached_after_s": None, "min": 1, "max": 1, "last": 1},
            ),
            "gate replicas[x]: fail (ready replicas >= 2 within 90 s: never reached "
            "(min 1, max 1, last 1))",
        ),
        (
            _gate("alert", "inconclusive", {"fires_within_s": 30.0}, {}, why="no alert observer"),
            "gate alert[x]: inconclusive (no alert observer)",
        ),
        (
            _gate("no_unexpected_alerts", "fail", {"allow": []}, {"unexpected": ["RedisDown"]}),
            "gate no_unexpected_alerts[x]: fail (expected allow=none; observed "
            "unexpected=RedisDown)",
        ),
    ],
    ids=lambda v: v["gate_kind"] if isinstance(v, dict) else "",
)
def test_gate_lines_read_as_sentences(fields: dict[str, Any], line: str) -> None:
    text = describe_gate(fields)
    assert text == line
    assert "{" not in text


def test_up_progress_names_what_it_waits_for() -> None:
    assert waiting_text({}) == "waiting for the controller to start"
    assert waiting_text({"waiting_for": "redis and postgresql"}) == (
        "waiting for redis and postgresql"
    )
    state = {
        "waiting_for": "replicas",
        "desired": {"ner/stable": 2, "vision/stable": 1, "ner/canary": 1},
        "replicas": [
            {"service": "ner", "version": "stable", "ready": True},
            {"service": "ner", "version": "stable", "ready": False},
            {"service": "vision", "version": "stable", "ready": True},
        ],
    }
    assert waiting_text(state) == "waiting for replicas: ner/canary 0/1, ner 1/2 ready"


def test_json_output_is_one_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reports import SyntheticOptions, write_synthetic_run

    write_synthetic_run(tmp_path / "run", SyntheticOptions(seed=1))
    assert _msai("report", str(tmp_path / "run"), "--format", "json", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["written"] == [str(tmp_path / "run" / "report" / "report.json")]
    assert data["partial"] is False
