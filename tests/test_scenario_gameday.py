"""Game days end to end on the FakePlatform: verdicts, rollback, the run record, msai run."""

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chaos import Ledger
from chaos.settings import ChaosSettings
from chaos.testing import FakePlatform, fake_load
from harness.commandline import EXIT_FAIL
from harness.platform.base import Endpoint, StackSpec
from harness.record import read_events, read_summary
from harness.scenario import parse_scenario
from msai.cli import main
from msai.gameday import ScenarioSkipped, run_scenario

BASE = """
name: fake-day
platform: [local]
steady_state:
  - {probe: replicas, service: ner, at_least: 1}
  - {probe: http, route: ner}
load: {shape: open-loop, rate: 40, duration: 2s, mix: {ner: 1.0}}
faults: []
expect:
  - {gate: error_ratio, max: 0.01}
  - {gate: latency, route: ner, p99_ms: 50, min_samples: 50}  # 80 samples in 2 s
observe: {interval: 0.2s}
"""


@pytest.fixture(autouse=True)
def _fast_probes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MSAI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MSAI_CHAOS_PROBE_DELAY_S", "0")


@pytest.fixture
def fake() -> FakePlatform:
    p = FakePlatform()
    p.up(StackSpec())
    return p


def day(tmp_path: Path, fake: FakePlatform, text: str, **kw):
    scenario = parse_scenario(text, source="day.yaml")
    return run_scenario(
        scenario,
        platform=fake,
        load_runner=fake_load,
        runs_dir=tmp_path / "runs",
        ledger=Ledger(tmp_path / "faults"),
        **kw,
    )


def kinds(run_dir: Path) -> list[str]:
    return [e.kind for e in read_events(run_dir)]


def test_a_quiet_day_passes_and_leaves_a_complete_record(tmp_path: Path, fake) -> None:
    result = day(tmp_path, fake, BASE)
    assert result.verdict == "pass", result.explain()
    assert result.exit_code == 0
    summary = read_summary(result.run_dir)
    assert summary["verdict"] == "pass"
    k = kinds(result.run_dir)
    assert k[0] == "run_start"
    assert k[-1] == "run_end"
    assert "load_bucket" in k
    assert "replicas" in k
    assert k.count("gate") == 2


def test_an_abort_beyond_the_budget_fails_and_is_rolled_back(tmp_path: Path, fake) -> None:
    text = BASE.replace(
        "faults: []",
        "faults:\n  - {at: 0.2s, kind: mesh_abort, target: {route: ner}, percent: 40,"
        " duration: 1s}",
    )
    result = day(tmp_path, fake, text)
    assert result.verdict == "fail", result.explain()
    assert result.exit_code == 1
    assert any("error_ratio" in r for r in result.reasons)
    assert fake.active_injections() == []
    events = list(read_events(result.run_dir))
    start = next(e for e in events if e.kind == "fault_start")
    assert start["fault"] == "mesh_abort"
    rollback = next(e for e in events if e.kind == "fault_rollback")
    assert rollback["ok"] is True
    assert rollback["fault_id"] == start["fault_id"]
    assert not Ledger(tmp_path / "faults").entries()


def test_a_small_abort_within_the_budget_passes(tmp_path: Path, fake) -> None:
    text = BASE.replace(
        "faults: []",
        "faults:\n  - {at: 0.2s, kind: mesh_delay, target: {route: ner}, delay: 5ms, duration: 1s}",
    )
    result = day(tmp_path, fake, text)
    assert result.verdict == "pass", result.explain()
    assert result.faults[0]["rolled_back"] is True


def test_not_steady_before_is_inconclusive_and_injects_nothing(tmp_path: Path, fake) -> None:
    text = BASE.replace("at_least: 1}", "at_least: 5}").replace(
        "faults: []", "faults:\n  - {at: 0s, kind: drain, target: {node: general-a}}"
    )
    result = day(tmp_path, fake, text)
    assert result.verdict == "inconclusive", result.explain()
    assert result.exit_code == 2
    assert not [c for c in fake.calls if c[0] == "drain"]


def test_guard_refusal_is_an_error_before_anything_starts(tmp_path: Path, fake) -> None:
    text = BASE.replace(
        "faults: []", "faults:\n  - {at: 0s, kind: kill, target: {service: ner}, count: 2}"
    )
    result = day(tmp_path, fake, text)
    assert result.verdict == "error"
    assert result.exit_code == 4
    assert any("would take all" in r for r in result.reasons)
    assert not [c for c in fake.calls if c[0] == "kill"]
    assert "load_bucket" not in kinds(result.run_dir)


def test_missing_feature_is_a_skip_naming_it(tmp_path: Path, fake) -> None:
    text = BASE.replace(
        "faults: []", "requires: [backup:postgresql, service:orchestrator]\nfaults: []"
    )
    with pytest.raises(ScenarioSkipped, match="backup:postgresql") as info:
        day(tmp_path, fake, text)
    assert "service:orchestrator" in str(info.value)


def test_ctrl_c_during_load_rolls_back_and_closes_the_record(tmp_path: Path, fake) -> None:
    text = BASE.replace(
        "faults: []", "faults:\n  - {at: 0s, kind: drain, target: {node: general-a}}"
    )

    def interrupted_load(req) -> None:
        deadline = __import__("time").monotonic() + 5
        while not [c for c in fake.calls if c[0] == "drain"]:
            assert __import__("time").monotonic() < deadline
            req.stop.wait(0.02)
        raise KeyboardInterrupt

    scenario = parse_scenario(text, source="day.yaml")
    with pytest.raises(KeyboardInterrupt):
        run_scenario(
            scenario,
            platform=fake,
            load_runner=interrupted_load,
            runs_dir=tmp_path / "runs",
            ledger=Ledger(tmp_path / "faults"),
        )
    assert fake.active_injections() == []
    assert all(n.schedulable for n in fake.nodes())
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert read_summary(run_dir)["verdict"] == "error"
    assert not Ledger(tmp_path / "faults").entries()


def test_spot_interruption_replicas_gate(tmp_path: Path, fake) -> None:
    text = BASE.replace(
        "faults: []",
        "faults:\n  - {at: 0.2s, kind: spot_interruption, target: {node_label: spot}, notice: 1s}",
    ).replace(
        "expect:",
        "expect:\n  - {gate: replicas, service: vision, at_least: 2, within: 1s}",
    )
    result = day(tmp_path, fake, text)
    assert result.verdict == "pass", result.explain()
    gate = next(g for g in result.gates if g["gate_kind"] == "replicas")
    assert gate["observed"]["reached_after_s"] is not None


def _msai(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "msai", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_msai_run_dry_run_prints_the_plan(tmp_path: Path) -> None:
    path = tmp_path / "day.yaml"
    path.write_text(
        BASE.replace(
            "faults: []",
            "faults:\n  - {at: 1s, kind: spot_interruption, target: {node_label: spot},"
            " notice: 60s}",
        )
    )
    env = {**os.environ, "MSAI_HOME": str(tmp_path / "home")}
    out = _msai("run", "--dry-run", str(path), env=env)
    assert out.returncode == 0, out.stderr
    assert "spot interruption notice" in out.stdout
    assert "[ok]" in out.stdout
    assert not (tmp_path / "home" / "runs").exists()  # nothing ran


def test_msai_run_dry_run_refuses_outside_the_allow_list(tmp_path: Path) -> None:
    path = tmp_path / "day.yaml"
    path.write_text(
        BASE.replace("faults: []", "faults:\n  - {at: 1s, kind: kill, target: {service: etcd}}")
    )
    env = {**os.environ, "MSAI_HOME": str(tmp_path / "home")}
    out = _msai("run", "--dry-run", str(path), env=env)
    assert out.returncode == 4
    assert "REFUSED" in out.stdout
    assert "allow-list" in out.stdout


def test_msai_run_bad_file_names_file_field_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BASE.replace("{gate: error_ratio, max: 0.01}", "{gate: error_ratio, max: 7}"))
    env = {**os.environ, "MSAI_HOME": str(tmp_path / "home")}
    out = _msai("run", str(path), env=env)
    assert out.returncode == 4
    assert f"{path}:10 [expect[0].max]" in out.stderr
    assert "at most 1" in out.stderr


def test_run_record_is_json_lines(tmp_path: Path, fake) -> None:
    result = day(tmp_path, fake, BASE)
    for line in (result.run_dir / "events.jsonl").read_text().splitlines():
        json.loads(line)


def test_settings_reach_the_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSAI_CHAOS_MAX_CONCURRENT_FAULTS", "0")
    from chaos.settings import chaos_settings
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="MSAI_CHAOS_MAX_CONCURRENT_FAULTS"):
        chaos_settings()
    assert ChaosSettings().max_concurrent_faults == 4


class _SlowServer(ThreadingHTTPServer):
    """Answers every request after 200 ms, on loopback."""

    daemon_threads = True


class _Slow(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        time.sleep(0.2)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


class _LoopbackFake(FakePlatform):
    """The fake platform with its ``ner`` route served by a real server."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def endpoints(self) -> dict[str, Endpoint]:
        return {**super().endpoints(), "ner": Endpoint("ner", self.url, "ner")}


@pytest.fixture
def slow_url() -> Iterator[str]:
    """A loopback server that answers every request after 200 ms."""
    server = _SlowServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("timeout", "kind"), [("1ms", "timeout"), ("5s", None)])
def test_the_load_timeout_reaches_the_requests(
    tmp_path: Path, slow_url: str, timeout: str, kind: str | None
) -> None:
    """The game day sends its load with every key of ``load:``: a 1 ms timeout against a
    server that answers in 200 ms times every request out; 5 s lets them all finish."""
    platform = _LoopbackFake(slow_url)
    platform.up(StackSpec())
    text = f"""
name: timeout-day
platform: [local]
load: {{shape: open-loop, rate: 10, duration: 1s, mix: {{ner: 1.0}}, workers: 0,
        timeout: {timeout}}}
expect:
  - {{gate: error_ratio, max: 0}}
"""
    result = run_scenario(
        parse_scenario(text, source="day.yaml"),
        platform=platform,
        runs_dir=tmp_path / "runs",
        ledger=Ledger(tmp_path / "faults"),
    )
    assert result.run_dir is not None
    (summary,) = [
        e.data
        for e in read_events(result.run_dir)
        if e.kind == "load_summary" and e.data["route"] == "ner"
    ]
    sent = summary["sent"]
    assert sent > 0
    if kind is None:
        assert result.verdict == "pass", result.explain()
        assert summary["errors"] == {}
    else:
        assert result.verdict == "fail", result.explain()
        assert summary["errors"] == {kind: sent}


def test_msai_run_json_is_one_document_of_verdicts(
    tmp_path: Path,
    slow_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``msai run --json``: stdout is the verdicts (per scenario and gate) and nothing else;
    the gate lines, read as sentences, and the progress go to stderr; the exit code is
    harness.commandline's."""
    platform = _LoopbackFake(slow_url)
    platform.up(StackSpec())
    monkeypatch.setattr("msai.gameday.cli.bring_up", lambda s, name, say: (platform, False))
    path = tmp_path / "day.yaml"
    path.write_text(
        """
name: json-day
platform: [local]
load: {shape: open-loop, rate: 10, duration: 1s, mix: {ner: 1.0}, workers: 0}
expect:
  - {gate: error_ratio, max: 0.01}
  - {gate: latency, route: ner, p99_ms: 50, min_samples: 1}
"""
    )
    with pytest.raises(SystemExit) as exc:
        main(["run", "--json", "--runs-dir", str(tmp_path / "runs"), str(path)])
    assert exc.value.code == EXIT_FAIL
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert (data["verdict"], data["exit_code"]) == ("fail", EXIT_FAIL)
    (day,) = data["scenarios"]
    assert (day["scenario"], day["verdict"]) == ("json-day", "fail")
    gates = {g["kind"]: g for g in day["gates"]}
    assert gates["error_ratio"]["verdict"] == "pass"
    assert gates["latency"]["verdict"] == "fail"
    assert gates["latency"]["observed"]["p99_ms"] > 50
    assert Path(day["run_dir"]).is_dir()
    assert gates["latency"]["text"] in err
    assert "gate latency[ner]: fail (p99 " in err
    assert "expected {" not in err
    assert "json-day: FAIL" in err


def test_msai_run_dry_run_json_keeps_stdout_for_the_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "day.yaml"
    path.write_text(BASE)
    with pytest.raises(SystemExit) as exc:
        main(["run", "--dry-run", "--json", str(path)])
    assert exc.value.code == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    (plan,) = data["scenarios"]
    assert (data["dry_run"], plan["scenario"], plan["ok"]) == (True, "fake-day", True)
    assert "\n".join(plan["plan"]) in err
