"""QueryObserver's ``delta: true``: a counter of a stack that ran earlier scenarios counts this
run only."""

from pathlib import Path

import pytest

from chaos.testing import FakePlatform
from harness import observers
from harness.observers import QueryObserver
from harness.record import RunRecord, read_events


def test_delta_records_the_change_since_the_first_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    values = iter([7.0, 7.0, 9.0, 8.0])  # 7 resumed before this run; the last read dips
    monkeypatch.setattr(observers, "prometheus_value", lambda *_a, **_k: next(values))
    record = RunRecord(tmp_path / "run")
    queries = [{"name": "runs_resumed", "query": "sum(x)", "delta": True}]
    obs = QueryObserver(FakePlatform(), record, queries)
    for _ in range(4):
        obs.poll()
    record.close("pass")
    seen = [e["value"] for e in read_events(tmp_path / "run") if e.kind == "measurement"]
    assert seen == [0.0, 0.0, 2.0, 1.0]


def test_without_delta_the_value_is_as_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(observers, "prometheus_value", lambda *_a, **_k: 7.0)
    record = RunRecord(tmp_path / "run")
    QueryObserver(FakePlatform(), record, [{"name": "x", "query": "sum(x)"}]).poll()
    record.close("pass")
    assert [e["value"] for e in read_events(tmp_path / "run") if e.kind == "measurement"] == [7.0]
