"""Structured JSON logs, one object per line, with the request id of the request at hand.

The request id comes from ``x-request-id`` (Envoy sets one) or is made up, is echoed in the
response, and is put on every record logged while the request is handled (a contextvar).
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import json
import logging
import logging.handlers
import queue
import sys
import threading
import time
from typing import Any

__all__ = [
    "JsonFormatter",
    "configure_logging",
    "current_request_id",
    "flush_logs",
    "log_fast",
    "request_id_var",
]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of msg
}


def current_request_id() -> str | None:
    return request_id_var.get()


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "request_id"?, ...extra}`` on one line."""

    _second = -1
    _stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # strftime once a second, not once a line
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        out: dict[str, Any] = {
            "ts": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            out["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and key != "request_id" and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, default=str)


class _Enqueue(logging.handlers.QueueHandler):
    """Hands records to the writer thread; captures what only the caller's thread knows."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # In place, not a copy (a copy per access line showed in profiles): the only change
        # is merging args into msg, which every later reader would do the same way.
        record.msg = record.getMessage()
        record.args = None
        if record.exc_info:
            record.exc_text = _PLAIN.formatException(record.exc_info)
            record.exc_info = None
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()  # a contextvar: read it here, not there
        return record


class _Writer:
    """The writer thread: formats queued records and writes them a burst at a time.

    One wake-up, one ``write`` and one ``flush`` per burst instead of per record: at two
    thousand access lines a second on one core, the per-record ones cost ~23 us a request
    (server CPU per request, fake model). A record waits at most
    ``linger_s`` before it is written; :meth:`stop` writes everything queued at once.
    """

    _STOP = object()

    def __init__(self, handler: logging.StreamHandler[Any], linger_s: float = 0.02) -> None:
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._handler = handler  # formats, reports errors and holds the stream; never emits
        self._linger_s = linger_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # no lingering from here on
        self.queue.put(self._STOP)
        self._thread.join()

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            if batch[0] is not self._STOP:
                self._stopping.wait(self._linger_s)  # let a burst gather
            with contextlib.suppress(queue.Empty):
                while True:
                    batch.append(self.queue.get_nowait())
            self._write([r for r in batch if r is not self._STOP])
            if any(r is self._STOP for r in batch):
                return

    def _write(self, records: list[logging.LogRecord]) -> None:
        lines = []
        for record in records:
            try:
                lines.append(self._handler.format(record))
            except Exception:
                self._handler.handleError(record)
        if not lines:
            return
        try:
            self._handler.stream.write("\n".join(lines) + "\n")
            self._handler.stream.flush()
        except (OSError, ValueError):  # stream closed or gone (shutdown, broken pipe)
            pass


def log_fast(logger: logging.Logger, level: int, msg: str, extra: dict[str, Any]) -> None:
    """``logger.log(level, msg, extra=extra)`` without the caller lookup.

    ``Logger._log`` walks the stack for the caller's file and line on every call; JSON
    lines carry neither, and on a per-request log line the walk is measurable.
    """
    if logger.isEnabledFor(level):
        logger.handle(logger.makeRecord(logger.name, level, "", 0, msg, (), None, extra=extra))


_PLAIN = logging.Formatter()
_writer: _Writer | None = None


def flush_logs() -> None:
    """Write out every queued record (before ``os._exit``; ``atexit`` covers normal exits)."""
    global _writer
    if _writer is not None:
        _writer.stop()
        _writer = None


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Send every logger (uvicorn's included) to one JSON handler on stderr.

    Records go through a queue to a writer thread: formatting and the write + flush system
    calls (hundreds of microseconds each on a busy machine) stay off the event loop, and
    bursts are written together (:class:`_Writer`).
    """
    global _writer
    flush_logs()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    _writer = _Writer(handler)
    _writer.start()
    atexit.unregister(flush_logs)  # once, however often logging is configured
    atexit.register(flush_logs)
    root = logging.getLogger()
    root.handlers[:] = [_Enqueue(_writer.queue)]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
        # uvicorn's own dictConfig (or an earlier configuration in the same process) may have
        # disabled these loggers or given them a level: the root's level is the one that counts.
        lg.disabled = False
        lg.setLevel(logging.NOTSET)
    # One access line per request comes from the app (with model, route, request id).
    logging.getLogger("uvicorn.access").disabled = True
