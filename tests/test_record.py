import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.errors import RecordError
from harness.record import RunRecord, read_events, read_summary


def test_events_are_appended_and_summary_written(tmp_path: Path) -> None:
    rec = RunRecord(tmp_path / "run1")
    rec.emit("run_start", scenario="baseline", platform="local")
    rec.emit("load_bucket", second=0, sent=10, completed=9, errors={"timeout": 1})
    rec.close("pass", scenario="baseline")
    events = list(read_events(tmp_path / "run1"))
    assert [e.kind for e in events] == ["run_start", "load_bucket", "run_end"]
    assert [e.seq for e in events] == [0, 1, 2]
    summary = read_summary(tmp_path / "run1")
    assert summary is not None
    assert summary["verdict"] == "pass"
    assert summary["events"] == 3


def test_unknown_kind_and_missing_fields_are_refused(tmp_path: Path) -> None:
    rec = RunRecord(tmp_path / "r")
    with pytest.raises(ValueError, match="unknown"):
        rec.emit("bogus")
    with pytest.raises(ValueError, match="needs"):
        rec.emit("gate", gate="latency")
    rec.close("inconclusive")


def test_crashed_run_is_partial_but_readable(tmp_path: Path) -> None:
    crash = f"""
        import os
        from harness.record import RunRecord
        rec = RunRecord({str(tmp_path / "r")!r})
        rec.emit("note", message="before crash")
        os._exit(9)
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(crash)], check=False)
    assert proc.returncode == 9
    with (tmp_path / "r" / "events.jsonl").open("a") as f:
        f.write('{"seq": 1, "t": 1.0, "kind": "no')  # the write a crash cut short
    assert [e.kind for e in read_events(tmp_path / "r")] == ["note"]
    assert read_summary(tmp_path / "r") is None


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    d = tmp_path / "r"
    d.mkdir()
    (d / "events.jsonl").write_text(
        '{"seq":0,"t":1,"kind":"gate"}\n{"seq":1,"t":2,"kind":"note","message":"x"}\n'
    )
    with pytest.raises(RecordError, match=r"events.jsonl:1.*missing \['gate', 'verdict'\]"):
        list(read_events(d))


def test_summary_schema_version_is_checked(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(RecordError, match="schema_version 99"):
        read_summary(tmp_path)


def test_context_manager_closes_with_error_on_exception(tmp_path: Path) -> None:
    def crash() -> None:
        with RunRecord(tmp_path / "r") as rec:
            rec.emit("note", message="x")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        crash()
    summary = read_summary(tmp_path / "r")
    assert summary is not None
    assert summary["verdict"] == "error"
