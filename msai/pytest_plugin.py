"""The harness pytest plugin (registered by the root ``conftest.py``).

Options:
  --platform local|kind|eks   where scenarios run (default local, the embedded platform)
  --with-gpu                  run tests marked ``gpu`` (need a CUDA device)
  --with-soak                 run tests marked ``soak`` (long)
  --with-docker               run tests marked ``docker`` (build and run the images; minutes)

Tests marked ``kind`` / ``eks`` run only with the matching ``--platform``; ``gpu``, ``soak``
and ``docker`` only when asked. Each is skipped with the reason, never silently dropped.

Scenarios: ``scenarios/*.yaml`` are collected as test items and run as game days (verdicts and
the inconclusive policy: :mod:`msai.pytest_scenarios`); ``--scenario-profile`` (default
``ci``) picks the profile. Fixtures for Python suites: ``platform`` (the session's stack, up
once), ``run_scenario`` (run a scenario file or YAML text on it, get the RunResult) and
``record`` (a RunRecord in the test's tmp_path).

Faults, as ``msai`` handles them: the session starts by rolling back what a dead run left in
the chaos ledger (a game day SIGKILLed mid-fault), and SIGTERM / SIGHUP end the session the
way Ctrl-C does: the game day in progress rolls back its faults (in its ``finally``), then
pytest stops (no further item runs) and the session's stack goes down.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from chaos.interrupts import Interrupted
from harness.platform.base import PLATFORM_NAMES
from msai.pytest_scenarios import (
    POOL,
    RUN_OPTIONS,
    PlatformPool,
    ScenarioFile,
    is_scenario_file,
)

__all__ = ["PLATFORMS"]

PLATFORMS = PLATFORM_NAMES


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("msai", "ModelServeAI proving ground")
    group.addoption(
        "--platform",
        choices=PLATFORMS,
        default="local",
        help="platform the scenarios run on (default: local)",
    )
    group.addoption("--with-gpu", action="store_true", help="run tests marked gpu")
    group.addoption("--with-soak", action="store_true", help="run tests marked soak")
    group.addoption("--with-docker", action="store_true", help="run tests marked docker")
    group.addoption(
        "--scenario-profile",
        default="ci",
        help="profile of scenario files to apply (default: ci; 'none' runs them as written)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[POOL] = PlatformPool(config)
    config.addinivalue_line("markers", "slow: takes more than ~20 s (game days)")


def pytest_unconfigure(config: pytest.Config) -> None:
    pool = config.stash.get(POOL, None)
    if pool is not None:
        pool.close()
    for signum, handler in config.stash.get(_SIGNALS_BEFORE, {}).items():
        signal.signal(signum, handler)


_SIGNALS_BEFORE = pytest.StashKey[dict[int, Any]]()
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _stop_session(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"interrupted by {signal.Signals(signum).name}")


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    _recover_faults(config)
    if threading.current_thread() is threading.main_thread():
        before: dict[int, Any] = {s: signal.signal(s, _stop_session) for s in _STOP_SIGNALS}
        config.stash[_SIGNALS_BEFORE] = before


def _recover_faults(config: pytest.Config) -> None:
    """Roll back faults a dead harness left (the chaos ledger), as ``msai`` does before every
    command: one scandir when there are none; what cannot be reverted is reported, and
    retried by the next session or command."""
    from chaos.ledger import has_open_entries

    if not has_open_entries():
        return
    from chaos.recovery import recover

    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def say(line: str) -> None:
        if reporter is not None:
            reporter.write_line(f"msai: {line}")
        else:
            print(f"msai: {line}", file=sys.stderr)

    try:
        for line in recover().lines():
            say(line)
    except Exception as exc:  # recovery must not stop a test session that runs no fault
        say(f"warning: fault recovery failed: {type(exc).__name__}: {exc}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A game day stopped by SIGTERM/SIGHUP has rolled back and raises Interrupted: the
    session stops there as for Ctrl-C, rather than reading it as one failed test and going on
    to inject the next scenario's faults."""
    try:
        return (yield)
    except Interrupted as exc:
        raise KeyboardInterrupt(str(exc)) from exc


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_scenario_file(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    platform = config.getoption("--platform")
    reasons = {
        "kind": None if platform == "kind" else "needs a kind cluster: run with --platform kind",
        "eks": None if platform == "eks" else "needs an EKS cluster: run with --platform eks",
        "gpu": None if config.getoption("--with-gpu") else "needs a CUDA GPU: run with --with-gpu",
        "soak": None if config.getoption("--with-soak") else "long soak: run with --with-soak",
        "docker": None
        if config.getoption("--with-docker")
        else "builds and runs the images (minutes): run with --with-docker",
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))
                break


@pytest.fixture(scope="session")
def msai_platform_name(request: pytest.FixtureRequest) -> str:
    """The ``--platform`` chosen for this run."""
    return str(request.config.getoption("--platform"))


@pytest.fixture(scope="session")
def platform(request: pytest.FixtureRequest) -> Any:
    """The session's platform (``--platform``), up with the default stack; shared with the
    scenario items. A stack already running (``msai up``) is reused and left running."""
    pool: PlatformPool = request.config.stash[POOL]
    return pool.get()


@pytest.fixture
def run_scenario(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """``run_scenario(path_or_yaml, profile="ci", **run_options)`` -> RunResult, on the session
    platform (brought up with the scenario's stack), records under ``tmp_path``."""
    from harness.scenario import load_scenario, parse_scenario
    from msai.gameday import run_scenario as run

    def runner(source: str | Path, *, profile: str | None = "ci", **options: Any) -> Any:
        text = str(source)
        if isinstance(source, Path) or (text.endswith((".yaml", ".yml")) and "\n" not in text):
            scenario = load_scenario(source, profile=profile)
        else:
            scenario = parse_scenario(text, source="<run_scenario>", profile=profile)
        pool: PlatformPool = request.config.stash[POOL]
        extra: dict[str, Any] = request.config.stash.get(RUN_OPTIONS, {})
        merged = {"runs_dir": tmp_path / "runs", **extra}
        return run(scenario, platform=pool.get(scenario.stack), **{**merged, **options})

    return runner


@pytest.fixture
def record(tmp_path: Path) -> Iterator[Any]:
    """A RunRecord in ``tmp_path/run`` for a hand-written experiment; closed after the test."""
    from harness.record import RunRecord

    rec = RunRecord(tmp_path / "run")
    yield rec
    if not getattr(rec, "_closed", True):
        rec.close("pass")
