"""A pytest game day that dies mid-fault leaves nothing injected, on the real local stack.

SIGKILL: nothing in the dying process can help, so the next pytest session rolls the fault
back from the chaos ledger before its first test. SIGTERM: the game day rolls back at once
and the session stops. A fault whose harness died between the platform's answer and the
ledger (a ``pending`` entry: only its plan on disk) is reverted from that plan. Each is proven
by traffic through the gateway (Envoy), not by the ledger's word.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaos.ledger import Ledger, ledger_dir
from chaos.recovery import recover
from harness.platform.base import StackSpec
from harness.platform.local import LocalPlatform

pytestmark = pytest.mark.slow

FAKE = "{python} -m harness.platform.local.fakereplica {service} --port {port}"
TEAPOT = 418  # the injected abort: no real failure answers it

SCENARIO = """\
name: held-abort
platform: [local]
load: {shape: open-loop, rate: 2, duration: 120s, mix: {ner: 1.0}}
faults:
  - {at: 0s, kind: mesh_abort, target: {route: ner}, status: 418, percent: 100, allow_all: true}
expect:
  - {gate: error_ratio, max: 1.0}
observe: {interval: 1s, alerts: false}
"""


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def _wait(what: str, check: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Stack:
    def __init__(self, platform: LocalPlatform, home: Path, env: dict[str, str]) -> None:
        self.p = platform
        self.home = home  # MSAI_HOME
        self.env = env
        self.ledger = Ledger(ledger_dir(home))

    def ner(self) -> int:
        return _status(self.p.endpoints()["ner"].url + "/v2/health/live")

    def serves(self, n: int = 20) -> list[int]:
        """Statuses of ``n`` requests through the gateway: all 200 when nothing is injected."""
        return [self.ner() for _ in range(n)]

    def pytest(self, folder: Path, *args: str) -> subprocess.Popen[str]:
        """A separate pytest session with the plugin, as a user runs one."""
        cmd = [sys.executable, "-m", "pytest", "-p", "msai.pytest_plugin", "-p", "no:cacheprovider"]
        return subprocess.Popen(
            [*cmd, "-q", "--rootdir", str(folder), *args],
            cwd=folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def game_day(self, folder: Path) -> subprocess.Popen[str]:
        """A pytest game day, returned once its abort is in force and in the ledger."""
        (folder / "scenarios").mkdir(parents=True)
        (folder / "scenarios" / "held-abort.yaml").write_text(SCENARIO)
        proc = self.pytest(folder, "scenarios/held-abort.yaml", "--scenario-profile", "none")
        _wait("the abort at the gateway", lambda: proc.poll() is None and self.ner() == TEAPOT)
        _wait(
            "the injected ledger entry",
            lambda: any(e.state == "injected" for e in self.ledger.entries()),
        )
        return proc


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("msai")
    models = tmp_path_factory.mktemp("models")
    (models / "ner").mkdir()
    (models / "ner" / "config.json").write_text('{"fake": true}')
    env = {
        **os.environ,
        "MSAI_HOME": str(home),
        "MSAI_LOCAL_REPLICA_COMMAND": FAKE,
        "MSAI_MODELS_DIR": str(models),
        "MSAI_CHAOS_PROBE_DELAY_S": "0",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key in ("MSAI_HOME", "MSAI_LOCAL_REPLICA_COMMAND", "MSAI_MODELS_DIR"):
            mp.setenv(key, env[key])
        p = LocalPlatform(home / "local", tied=True)
        try:
            p.up(StackSpec(profile="minimal"))
            yield Stack(p, home, env)
        finally:
            p.down()


def test_sigkill_mid_fault_the_next_pytest_session_rolls_it_back(
    stack: Stack, tmp_path: Path
) -> None:
    proc = stack.game_day(tmp_path / "day")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert stack.ner() == TEAPOT  # nothing in a SIGKILLed process rolled it back
    (tmp_path / "next").mkdir()
    (tmp_path / "next" / "test_unrelated.py").write_text("def test_ok():\n    pass\n")
    nxt = stack.pytest(tmp_path / "next", "test_unrelated.py")
    out, _ = nxt.communicate(timeout=120)
    assert nxt.returncode == 0, out
    assert "rolled back fault left by a dead run: mesh_abort-" in out, out
    assert stack.serves() == [200] * 20
    assert stack.ledger.entries() == []


def test_sigterm_mid_fault_rolls_back_and_stops_the_session(stack: Stack, tmp_path: Path) -> None:
    proc = stack.game_day(tmp_path / "day")
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "interrupted by SIGTERM" in out, out
    assert stack.serves() == [200] * 20  # before any later session or command
    assert stack.ledger.entries() == []


def test_a_pending_entry_is_reverted_from_its_plan(stack: Stack) -> None:
    stack.p.mesh_fault("ner", abort_status=TEAPOT, percent=100)
    assert stack.ner() == TEAPOT
    # The harness dies after the platform injected and before the ledger heard back: only
    # the entry written before injecting is on disk (state pending, the plan, no undo data).
    code = (
        "from chaos.ledger import Ledger; import sys; "
        "Ledger(sys.argv[1]).open(run_id='dead', platform='local', kind='mesh_abort', "
        "targets=['ner'], plan={'kind': 'mesh_abort', 'targets': ['ner'], "
        "'params': {'abort_status': 418, 'percent': 100.0}})"
    )
    subprocess.run([sys.executable, "-c", code, str(stack.ledger.directory)], check=True)
    (entry,) = stack.ledger.entries()
    assert entry.state == "pending"
    assert not entry.owner_alive()
    report = recover(stack.home)
    assert report.reverted, report
    assert (report.failed, report.abandoned) == ([], []), report
    assert stack.serves() == [200] * 20
    assert stack.ledger.entries() == []
    assert stack.p.state()["injections"] == []
