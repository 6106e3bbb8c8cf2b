"""Lifecycle reliability: crashed runs are cleaned up, busy ports and missing binaries are
named, the ledger never kills a stranger's process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.errors import PlatformError, PortInUse
from harness.platform import get_platform
from harness.platform.base import StackSpec
from harness.platform.local import LocalPlatform
from harness.supervisor import Ledger, LedgerEntry, alive, cleanup, spawn

FAKE = "{python} -m harness.platform.local.fakereplica {service} --port {port}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("MSAI_LOCAL_REPLICA_COMMAND", FAKE)
    monkeypatch.setenv("MSAI_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("MSAI_HOME", str(tmp_path))
    yield tmp_path / "local"
    left = [e for e in Ledger(tmp_path / "local" / "ledger.json").entries() if alive(e)]
    cleanup(Ledger(tmp_path / "local" / "ledger.json"))
    assert not left, f"test left processes: {left}"


def test_spawn_records_and_cleanup_stops_the_group(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.json")
    # A parent that starts a grandchild in its own group: cleanup must stop both.
    script = (
        "import subprocess, sys, time;"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "time.sleep(60)"
    )
    proc = spawn(
        ledger, "sleeper", [sys.executable, "-c", script], log=tmp_path / "s.log", role="test"
    )
    time.sleep(0.5)
    group = [p for p in psutil.process_iter() if _pgid(p.pid) == proc.pid]
    assert len(group) == 2
    assert [e.name for e in ledger.entries()] == ["sleeper"]
    assert cleanup(ledger, grace_s=2)
    proc.popen.wait(timeout=5)
    assert ledger.entries() == []
    # A killed grandchild is reparented and reaped a moment later: give it that moment.
    _, alive = psutil.wait_procs(group, timeout=5)
    assert not [p for p in alive if _alive(p)]


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def test_ledger_ignores_a_reused_pid(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.json")
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        # Same pid, but a different start time: it is not ours and must be left alone.
        ledger.add(LedgerEntry("old", stranger.pid, 12345.0, ["x"], "x.log", "replica"))
        cleanup(ledger, grace_s=1)
        assert stranger.poll() is None
        assert ledger.entries() == []
    finally:
        stranger.kill()
        stranger.wait()


def test_get_platform_factory() -> None:
    assert isinstance(get_platform("local"), LocalPlatform)
    with pytest.raises(Exception, match="unknown platform"):
        get_platform("nope")


def test_crashed_run_is_cleaned_by_the_next_up_and_down(home: Path) -> None:
    p = LocalPlatform(home, tied=True)
    p.up(StackSpec(profile="minimal"))
    first = [e for e in p.ledger.entries() if alive(e)]
    assert {e.role for e in first} >= {"controller", "envoy", "redis", "postgresql", "replica"}
    # The harness and the controller die hard: children keep running, orphaned.
    ctl = next(e for e in first if e.role == "controller")
    os.kill(ctl.pid, signal.SIGKILL)
    p._popen.wait(timeout=5)
    assert any(alive(e) for e in first if e.role != "controller")
    # The next up cleans them all before starting afresh.
    again = LocalPlatform(home, tied=True)
    again.up(StackSpec(profile="minimal"))
    assert not [e for e in first if alive(e)]
    second = [e for e in again.ledger.entries() if alive(e)]
    again.down()
    assert not [e for e in second if alive(e)]
    assert again.ledger.entries() == []


def test_revert_with_no_stack_is_a_no_op(home: Path) -> None:
    from harness.platform.base import Injection

    inj = Injection("mesh_fault-1", "local", "mesh_fault", "ner", {}, {"route": "ner"}, 0.0)
    LocalPlatform(home, tied=True).revert(inj)  # nothing is up: nothing can still be injected


def test_busy_gateway_port_names_the_holder(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        monkeypatch.setenv("MSAI_LOCAL_GATEWAY_PORT", str(port))
        with pytest.raises(PlatformError, match=rf"port {port} .* in use by pid {os.getpid()}"):
            LocalPlatform(home, tied=True).up(StackSpec(profile="minimal"))


def test_missing_binary_names_the_package(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSAI_BIN_REDIS_SERVER", str(home / "no-such-redis"))
    with pytest.raises(PlatformError, match="redis-server not found: it comes with redis-server"):
        LocalPlatform(home, tied=True).up(StackSpec(profile="minimal"))


def test_port_in_use_error_type() -> None:
    from harness.ports import check_free

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(PortInUse):
            check_free(s.getsockname()[1])


def _msai(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "msai", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_cli_up_status_logs_down_across_processes(home: Path) -> None:
    up = _msai("up", "--profile", "minimal", "--set", "vision.enabled=false")
    assert up.returncode == 0, up.stderr
    assert "gateway" in up.stdout
    assert "ner-stable-0" in up.stdout
    status = _msai("status")
    assert "phase ready" in status.stdout
    assert "ner-stable-0" in status.stdout
    logs = _msai("logs", "envoy")
    assert logs.returncode == 0
    assert "envoy.log" in logs.stdout
    bad = _msai("logs", "nope")
    assert bad.returncode == 4
    assert "no logs for 'nope'" in bad.stderr
    down = _msai("down")
    assert down.returncode == 0
    assert "stopped" in down.stdout
    assert "not running" in _msai("status").stdout


def test_cli_up_with_a_bad_value_names_the_field(home: Path) -> None:
    out = _msai("up", "--set", "ner.replicas=lots")
    assert out.returncode == 4
    assert "ner.replicas" in out.stderr
    assert "values.yaml" in out.stderr


def test_a_replica_that_cannot_start_fails_up_fast(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MSAI_LOCAL_REPLICA_COMMAND", "{python} -c raise(SystemExit(3))")
    t = time.monotonic()
    with pytest.raises(PlatformError, match=r"exited 3 times before becoming ready"):
        LocalPlatform(home, tied=True).up(StackSpec(profile="minimal"))
    assert time.monotonic() - t < 60


def test_a_tied_stack_goes_when_its_owner_is_killed(home: Path) -> None:
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from harness.platform.base import StackSpec\n"
        "from harness.platform.local import LocalPlatform\n"
        f"p = LocalPlatform(Path({str(home)!r}), tied=True)\n"
        "p.up(StackSpec(profile='minimal', overrides={'vision.enabled': False}))\n"
        "print('UP', flush=True)\n"
        "import time; time.sleep(120)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "UP"
        entries = [e for e in Ledger(home / "ledger.json").entries() if alive(e)]
        assert len(entries) >= 6
    finally:
        owner.kill()  # SIGKILL: no finally, no atexit in the owner
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(alive(e) for e in entries):
        time.sleep(0.2)
    assert not [e.name for e in entries if alive(e)]
