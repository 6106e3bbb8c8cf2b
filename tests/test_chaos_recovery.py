"""Nothing stays injected: SIGTERM/Ctrl-C roll back at once; a SIGKILLed harness is cleaned up
by the next ``msai`` command (the ledger's orphan recovery)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HARNESS = r"""
import sys, time
from pathlib import Path
from chaos import FaultScheduler, Ledger, rollback_on_signals, shielded
from chaos.testing import FakePlatform
from harness.platform.base import StackSpec
from harness.scenario import FaultEntry

fake = FakePlatform(Path(sys.argv[1]))
fake.up(StackSpec())
entries = [
    FaultEntry(0, 0.0, "mesh_abort", {"route": "ner"}, {"percent": 5}),
    FaultEntry(1, 0.0, "drain", {"node": "general-a"}, {}),
]
s = FaultScheduler(fake, entries, run_id="victim", ledger=Ledger())
with rollback_on_signals():
    try:
        s.start(until_s=3600)
        while s.running:
            s.join(timeout=0.1)
    finally:
        with shielded():
            s.rollback_all()
"""


def _active(world: Path) -> list[dict]:
    if not world.exists():
        return []
    return list(json.loads(world.read_text()).get("active", {}).values())


def _start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, dict[str, str]]:
    world = tmp_path / "world.json"
    env = {**os.environ, "MSAI_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-c", HARNESS, str(world)], env=env)
    deadline = time.monotonic() + 30
    while len(_active(world)) < 2:
        assert proc.poll() is None, "the harness died before injecting"
        assert time.monotonic() < deadline, "faults never injected"
        time.sleep(0.05)
    # and the ledger has recorded the undo data of both
    open_dir = tmp_path / "home" / "faults" / "open"
    while (
        sum(json.loads(p.read_text())["state"] == "injected" for p in open_dir.glob("*.json")) < 2
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc, world, env


def _ledger_open(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "home" / "faults" / "open").glob("*.json"))


def test_sigkill_mid_fault_is_rolled_back_by_the_next_msai_command(tmp_path: Path) -> None:
    proc, world, env = _start(tmp_path)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL
    assert len(_active(world)) == 2, "a SIGKILLed process cannot clean up after itself"
    assert len(_ledger_open(tmp_path)) == 2
    out = subprocess.run(
        [sys.executable, "-m", "msai", "info", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("rolled back fault left by a dead run") == 2, out.stderr
    assert _active(world) == []
    state = json.loads(world.read_text())
    assert all(n["schedulable"] for n in state["nodes"])
    assert _ledger_open(tmp_path) == []
    # a second command finds nothing to do and says nothing
    again = subprocess.run(
        [sys.executable, "-m", "msai", "info", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "rolled back" not in again.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_roll_back_before_exit(tmp_path: Path, sig: signal.Signals) -> None:
    proc, world, _ = _start(tmp_path)
    proc.send_signal(sig)
    rc = proc.wait(20)
    assert rc != 0  # interrupted, not a normal end
    assert _active(world) == []
    assert _ledger_open(tmp_path) == []
    history = (tmp_path / "home" / "faults" / "ledger.jsonl").read_text().splitlines()
    assert [json.loads(h)["event"] for h in history].count("rolled_back") == 2
