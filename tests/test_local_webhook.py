"""The alert webhook receiver records every alert with the time it arrived."""

import json
from pathlib import Path

import pytest

from harness.platform.local.webhook import AlertLog


def _payload(status: str) -> dict[str, object]:
    return {
        "version": "4",
        "status": status,
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "RedisDown", "severity": "critical"},
                "annotations": {"summary": "redis down"},
                "startsAt": "2026-11-27T04:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "abc",
            }
        ],
    }


def test_records_each_alert_with_receipt_time(tmp_path: Path) -> None:
    log = AlertLog(tmp_path / "alerts.jsonl")
    assert log.record("webhook", _payload("firing")) == 1
    assert log.record("webhook", _payload("resolved")) == 1
    rows = log.alerts()
    assert [(r["name"], r["status"]) for r in rows] == [
        ("RedisDown", "firing"),
        ("RedisDown", "resolved"),
    ]
    assert rows[0]["received"] <= rows[1]["received"]
    assert rows[0]["receiver"] == "webhook"
    on_disk = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert on_disk == rows  # flushed per line: a crashed run keeps them
    assert log.alerts(since=rows[1]["received"]) == rows[1:]


@pytest.mark.parametrize("bad", [{}, {"alerts": "x"}, {"alerts": [1]}, []])
def test_rejects_malformed_payloads(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ValueError, match="alert"):
        AlertLog(tmp_path / "a.jsonl").record("webhook", bad)
