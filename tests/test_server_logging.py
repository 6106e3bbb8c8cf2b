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


class _CountingStream(io.StringIO):
    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_a_burst_is_written_at_once_and_stop_does_not_linger() -> None:
    import time

    from modelserve.common.logging import JsonFormatter, _Writer

    stream = _CountingStream()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    writer = _Writer(handler, linger_s=30.0)
    writer.start()
    logger = logging.getLogger("modelserve.test.burst")
    for i in range(200):
        writer.queue.put(logger.makeRecord(logger.name, logging.INFO, "", 0, f"n{i}", None, None))
    t0 = time.monotonic()
    writer.stop()  # the 30 s linger is cut short: everything queued is written now
    assert time.monotonic() - t0 < 5.0
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["msg"] for line in lines] == [f"n{i}" for i in range(200)]
    assert stream.writes == 1


def test_log_fast_writes_what_logger_log_writes(captured: io.StringIO) -> None:
    from modelserve.common.logging import log_fast

    log = logging.getLogger("modelserve.test")
    token = request_id_var.set("req-7")
    try:
        log_fast(log, logging.INFO, "request", {"model": "ner", "status": 200})
        log.info("request", extra={"model": "ner", "status": 200})
        log_fast(log, logging.DEBUG, "hidden", {})
    finally:
        request_id_var.reset(token)
    fast, slow = _lines(captured)
    del fast["ts"], slow["ts"]
    assert fast == slow
    assert fast["request_id"] == "req-7"


def test_log_fast_queues_a_line_only_when_nothing_else_would_see_the_record(
    captured: io.StringIO,
) -> None:
    """The tuple path skips ``LogRecord``; a handler or filter on the way must still see a
    record, so any of them sends ``log_fast`` the logging module's way."""
    from modelserve.common.logging import _direct_queue

    log = logging.getLogger("modelserve.test.direct")
    root = logging.getLogger()
    # pytest's own capture handlers sit on the root during a test; this checks ours alone.
    saved = root.handlers[:]
    root.handlers[:] = [h for h in saved if type(h).__name__ == "_Enqueue"]
    try:
        assert _direct_queue(log, logging.INFO) is not None
        seen: list[logging.LogRecord] = []

        def keep(record: logging.LogRecord) -> bool:
            seen.append(record)
            return True

        log.addFilter(keep)
        assert _direct_queue(log, logging.INFO) is None
        log.removeFilter(keep)
        log.propagate = False
        assert _direct_queue(log, logging.INFO) is None
        log.propagate = True
        extra = logging.Handler()
        root.addHandler(extra)
        assert _direct_queue(log, logging.INFO) is None
        root.removeHandler(extra)
        assert _direct_queue(log, logging.INFO) is not None
        # Through the tuple path, the line is what the record path writes.
        token = request_id_var.set("req-9")
        try:
            from modelserve.common.logging import log_fast

            log_fast(log, logging.INFO, "request", {"status": 200, "path": "/v1/x"})
            log.info("request", extra={"status": 200, "path": "/v1/x"})
        finally:
            request_id_var.reset(token)
    finally:
        root.handlers[:] = saved
    fast, slow = _lines(captured)
    del fast["ts"], slow["ts"]
    assert (
        fast
        == slow
        == {
            "level": "info",
            "logger": "modelserve.test.direct",
            "msg": "request",
            "request_id": "req-9",
            "status": 200,
            "path": "/v1/x",
        }
    )
