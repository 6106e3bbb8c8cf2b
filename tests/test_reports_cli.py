"""`msai report`: files written atomically, exit codes, named errors on bad records."""

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from msai.cli import main
from reports import SyntheticOptions, write_synthetic_run
from reports import atomic as atomic_mod
from reports import writer as writer_mod


def _msai(*args: str) -> int:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    return int(exc.value.code or 0)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    write_synthetic_run(root / "base", SyntheticOptions(seed=1))
    write_synthetic_run(root / "same", SyntheticOptions(seed=2))
    write_synthetic_run(root / "slow", SyntheticOptions(seed=3, latency_factor=1.5))
    write_synthetic_run(root / "crashed", SyntheticOptions(seed=4, crash_at_s=50))
    return root


def test_writes_every_format(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = _msai("report", str(root / "same"), "--format", "html,md,json,junit", "--out", str(out))
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "junit.xml",
        "report.html",
        "report.json",
        "summary.md",
    ]
    assert "run same: pass [SYNTHETIC]" in capsys.readouterr().out
    data = json.loads((out / "report.json").read_text())
    assert data["verdict"] == "pass"
    assert data["synthetic"] is True
    assert len(data["gates"]) == 6
    suite = ET.parse(out / "junit.xml").getroot()
    assert suite.get("tests") == "6"
    assert suite.get("failures") == "0"
    md = (out / "summary.md").read_text()
    assert "PASS: synthetic-spot-interruption (SYNTHETIC" in md
    assert "| latency |" in md


def test_default_out_is_inside_the_run(root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(root / "same", run)
    assert _msai("report", str(run), "--format", "md") == 0
    assert (run / "report" / "summary.md").exists()


def test_regression_fails_only_when_asked(root: Path, tmp_path: Path) -> None:
    args = ["report", str(root / "slow"), "--baseline", str(root / "base"), "--out", str(tmp_path)]
    assert _msai(*args, "--resamples", "400") == 0
    assert _msai(*args, "--resamples", "400", "--fail-on-regression") == 1
    md = (tmp_path / "summary.md").read_text()
    assert "Against baseline `base`" in md
    assert "regressed" in md
    cmp = json.loads((tmp_path / "report.json").read_text())["comparison"]
    assert cmp["seed"] == 0
    assert any(m["label"] == "regressed" for m in cmp["metrics"])


def test_no_regression_passes_the_gate(root: Path, tmp_path: Path) -> None:
    code = _msai(
        "report",
        str(root / "same"),
        "--baseline",
        str(root / "base"),
        "--out",
        str(tmp_path),
        "--resamples",
        "400",
        "--fail-on-regression",
    )
    assert code == 0


def test_missing_run_names_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _msai("report", str(tmp_path / "nowhere")) == 4
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nowhere'}: no such run directory" in err


def test_missing_events_and_malformed_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r").mkdir()
    assert _msai("report", str(tmp_path / "r")) == 4
    assert "r/events.jsonl: no events.jsonl" in capsys.readouterr().err
    (tmp_path / "r" / "events.jsonl").write_text(
        '{"seq":0,"t":1,"kind":"run_start","scenario":"s","platform":"local"}\n{oops\n'
        '{"seq":2,"t":2,"kind":"note","message":"x"}\n'
    )
    assert _msai("report", str(tmp_path / "r")) == 4
    assert "r/events.jsonl:2: not JSON" in capsys.readouterr().err
    assert not (tmp_path / "r" / "report").exists()


def test_bad_baseline_is_named(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _msai(
        "report", str(root / "same"), "--baseline", str(tmp_path / "gone"), "--out", str(tmp_path)
    )
    assert code == 4
    assert "gone: no such run directory" in capsys.readouterr().err


def test_crashed_run_renders_as_partial(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["report", str(root / "crashed"), "--out", str(tmp_path)]
    assert _msai(*args, "--format", "html,md,junit") == 0
    captured = capsys.readouterr()
    assert "PARTIAL" in captured.out
    assert "partial record (no summary.json)" in captured.err
    html = (tmp_path / "report.html").read_text()
    assert '<div class="v">PARTIAL</div>' in html
    assert "the run did not finish" in html
    assert "PARTIAL" in (tmp_path / "summary.md").read_text()
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("errors") == "1"
    assert suite.find("testcase/error").get("message") == "partial record: no summary.json"  # type: ignore[union-attr]
    assert _msai("report", str(root / "crashed"), "--out", str(tmp_path), "--fail-on-partial") == 1


def test_bad_options_are_usage_errors(root: Path) -> None:
    assert _msai("report", str(root / "same"), "--format", "pdf") == 3
    assert _msai("report", str(root / "same"), "--confidence", "2") == 3


def test_a_failed_render_leaves_the_old_report_whole(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _msai("report", str(root / "same"), "--format", "html,md", "--out", str(tmp_path)) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def boom(*_a: object) -> str:
        raise RuntimeError("renderer crashed")

    monkeypatch.setitem(writer_mod.FORMATS, "md", ("summary.md", boom))
    with pytest.raises(RuntimeError, match="renderer crashed"):
        main(["report", str(root / "base"), "--format", "html,md", "--out", str(tmp_path)])
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # html was not replaced either: everything renders before writing


def test_atomic_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")

    def fail_replace(*_a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic_mod.os, "replace", fail_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_mod.atomic_write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_save_a_baseline_then_gate_on_it(root: Path, tmp_path: Path) -> None:
    saved = tmp_path / "baselines" / "spot.json"
    args = ["report", str(root / "base"), "--format", "md", "--out", str(tmp_path / "a")]
    assert _msai(*args, "--save-baseline", str(saved)) == 0
    assert json.loads(saved.read_text())["baseline_schema"] == 1
    gate = ["--baseline", str(saved), "--resamples", "400", "--fail-on-regression"]
    assert _msai("report", str(root / "slow"), "--out", str(tmp_path / "b"), *gate) == 1
    assert _msai("report", str(root / "same"), "--out", str(tmp_path / "c"), *gate) == 0
    # A crashed run is no baseline.
    partial = ["report", str(root / "crashed"), "--out", str(tmp_path / "d")]
    assert _msai(*partial, "--save-baseline", str(tmp_path / "p.json")) == 4
    assert not (tmp_path / "p.json").exists()


def test_write_reports_is_the_run_engines_one_call(root: Path, tmp_path: Path) -> None:
    from harness.errors import RecordError
    from reports import write_reports

    run = tmp_path / "run"
    shutil.copytree(root / "slow", run)
    html = write_reports(run, baseline=root / "base", resamples=300)
    assert html == run / "report" / "report.html"
    assert "Against baseline base" in html.read_text()
    # A scenario's first run: its baseline file does not exist yet. Report anyway, say so.
    html = write_reports(run, baseline=tmp_path / "baselines" / "none.json", out=tmp_path / "o")
    page = html.read_text()
    assert "no baseline comparison" in page
    assert "none.json: no such" in page
    with pytest.raises(RecordError, match=r"none\.json"):
        write_reports(run, baseline=tmp_path / "baselines" / "none.json", strict_baseline=True)
    assert write_reports(run, formats=["md"], out=tmp_path / "m") == tmp_path / "m"
