"""``msai load run|search`` end to end against the echo server: record, gates, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.record import read_events, read_summary
from loadtests.testing import echo_server


def _msai(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "msai", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**__import__("os").environ, "CI": "true"},
    )


def test_load_run_records_and_judges(tmp_path: Path) -> None:
    gates = tmp_path / "gates.yaml"
    # ~20 ner samples: min_samples lets a p99 be judged on them (by default it needs 100)
    gates.write_text(
        "- {gate: error_ratio, max: 0.0}\n"
        "- {gate: latency, route: ner, p99_ms: 2, min_samples: 5}\n"
    )
    with echo_server(latency_ms=5) as srv:
        done = _msai(
            "load",
            "run",
            "--url",
            srv.url,
            "--rate",
            "40",
            "--duration",
            "1s",
            "--mix",
            "ner=1,vision=1",
            "--expect",
            str(gates),
            "--runs-dir",
            str(tmp_path),
        )
        assert done.returncode == 1, done.stdout + done.stderr  # 5 ms server, p99 <= 2 ms
        assert "gate latency[ner]: fail (p99 " in done.stdout
        assert "gate error_ratio[all]: pass (error ratio 0.0000 <= 0; " in done.stdout
        assert "{" not in done.stdout, "dict reprs in the output"
        run_dir = Path(done.stdout.rsplit("run record: ", 1)[1].strip())
        assert run_dir.parent == tmp_path
        summary = read_summary(run_dir)
        assert summary is not None
        assert summary["verdict"] == "fail"
        kinds = {e.kind for e in read_events(run_dir)}
        assert {"run_start", "load_bucket", "load_summary", "gate", "run_end"} <= kinds
        replay = _msai(
            "load",
            "run",
            "--url",
            srv.url,
            "--replay",
            str(run_dir / "arrivals.json"),
            "--runs-dir",
            str(tmp_path / "replays"),
            "--json",
        )
        assert replay.returncode == 0, replay.stderr
        result = json.loads(replay.stdout)
        assert result["verdict"] == "pass"
        assert result["gates"] == []
        replayed = Path(result["record"])
        assert (replayed / "arrivals.json").read_text() == (run_dir / "arrivals.json").read_text()


def test_load_cli_errors_name_what_is_wrong(tmp_path: Path) -> None:
    bad = _msai(
        "load",
        "run",
        "--url",
        "http://127.0.0.1:9",
        "--rate",
        "5",
        "--duration",
        "1s",
        "--mix",
        "ner",
    )
    assert bad.returncode == 3
    assert "--mix" in bad.stderr
    unknown = _msai(
        "load",
        "run",
        "--url",
        "http://127.0.0.1:9",
        "--rate",
        "5",
        "--duration",
        "1s",
        "--mix",
        "poems=1",
        "--runs-dir",
        str(tmp_path),
    )
    assert unknown.returncode == 4
    assert "unknown route(s) ['poems']" in unknown.stderr


def test_load_search_prints_the_highest_rate() -> None:
    with echo_server(latency_ms=2) as srv:
        done = _msai(
            "load",
            "search",
            "--url",
            srv.url,
            "--mix",
            "ner=1",
            "--p99-ms",
            "1000",
            "--start",
            "50",
            "--trial",
            "0.5s",
            "--max-rate",
            "100",
        )
    assert done.returncode == 0, done.stderr
    assert "highest rate meeting p99 <= 1000 ms: 100.0 req/s" in done.stdout
    assert done.stdout.count(": met:") == 3  # 50, 75, 100: geometric growth up to the cap
