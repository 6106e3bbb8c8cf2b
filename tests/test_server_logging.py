"""Structured JSON logs: one object per line, request ids from the handling context."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from modelserve.common.logging import configure_logging, flush_logs, request_id_var


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging("INFO", stream)
    yield stream
    flush_logs()
    root.handlers[:], root.level = saved


def _lines(stream: io.StringIO) -> list[dict]:
    flush_logs()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_records_are_json_with_extras_and_the_request_id(captured: io.StringIO) -> None:
    log = logging.getLogger("modelserve.test")
    token = request_id_var.set("req-42")
    try:
        log.info("request", extra={"model": "ner", "status": 200})
    finally:
        request_id_var.reset(token)
    log.warning("no request here %s", "formatted")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    first, second, third = _lines(captured)
    assert first["msg"] == "request"
    assert first["request_id"] == "req-42"
    assert (first["model"], first["status"], first["level"]) == ("ner", 200, "info")
    assert first["ts"].endswith("Z")
    assert "request_id" not in second
    assert second["msg"] == "no request here formatted"
    assert "ValueError: boom" in third["exc"]


def test_levels_below_the_setting_are_dropped(captured: io.StringIO) -> None:
    logging.getLogger("modelserve.test").debug("hidden")
    logging.getLogger("uvicorn.error").info("uvicorn speaks json too")
    lines = _lines(captured)
    assert [line["msg"] for line in lines] == ["uvicorn speaks json too"]
