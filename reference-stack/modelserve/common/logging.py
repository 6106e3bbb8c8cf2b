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
        extra = {
            key: value
            for key, value in vars(record).items()
            if key not in _STANDARD and key != "request_id" and not key.startswith("_")
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        out = self.fields(record.created, record.levelname, record.name, record.getMessage(), rid)
        out.update(extra)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return _ENCODER.encode(out)

    def fields(
        self, created: float, level: str, logger: str, msg: str, rid: str | None
    ) -> dict[str, Any]:
        """The keys every line starts with, in order."""
        second = int(created)
        if second != self._second:  # strftime once a second, not once a line
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        out: dict[str, Any] = {
            "ts": f"{self._stamp}.{int((created - second) * 1000):03d}Z",
            "level": level.lower(),
            "logger": logger,
            "msg": msg,
        }
        if rid:
            out["request_id"] = rid
        return out

    def format_line(self, line: _Line) -> str:
        """What :meth:`format` gives for the record :func:`log_fast` would have made."""
        out = self.fields(*line[:5])
        out.update(line[5])
        return _ENCODER.encode(out)


class _Line(tuple):  # type: ignore[type-arg]
    """(created, level name, logger name, msg, request id, extra): a record's content, queued
    by :func:`log_fast` without building a ``LogRecord``."""

    __slots__ = ()


# One encoder for every line: ``json.dumps`` with any option builds a new one per call.
_ENCODER = json.JSONEncoder(default=str)


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
        self._lines = JsonFormatter()  # for log_fast's tuples, which are always JSON lines
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

    def _write(self, records: list[logging.LogRecord | _Line]) -> None:
        lines = []
        for record in records:
            try:
                if isinstance(record, _Line):
                    lines.append(self._lines.format_line(record))
                else:
                    lines.append(self._handler.format(record))
            except Exception:
                # handleError reports a record's failure on stderr; a tuple has no record,
                # and its fields (str, numbers, default=str for the rest) always encode.
                if isinstance(record, logging.LogRecord):
                    self._handler.handleError(record)
        if not lines:
            return
        try:
            self._handler.stream.write("\n".join(lines) + "\n")
            self._handler.stream.flush()
        except (OSError, ValueError):  # stream closed or gone (shutdown, broken pipe)
            pass


def log_fast(logger: logging.Logger, level: int, msg: str, extra: dict[str, Any]) -> None:
    """``logger.log(level, msg, extra=extra)``, for a line per request.

    When the record would reach only this module's queue to the writer thread (no handler or
    filter on the way, the usual set-up), the line's content goes on the queue as a tuple:
    building a ``LogRecord`` (pid, thread and process names) and passing it through the
    handler (its lock, ``prepare``) cost the event loop ~7 us a request more. Otherwise the
    record takes the logging module's path, without ``Logger._log``'s walk up the stack for
    the caller's file and line. ``extra`` must not name ``LogRecord`` attributes.
    """
    if not logger.isEnabledFor(level) or logger.disabled:
        return
    target = _direct_queue(logger, level)
    if target is not None:
        name = logging.getLevelName(level)
        target.put(_Line((time.time(), name, logger.name, msg, request_id_var.get(), extra)))
        return
    logger.handle(logger.makeRecord(logger.name, level, "", 0, msg, (), None, extra=extra))


def _direct_queue(logger: logging.Logger, level: int) -> queue.SimpleQueue[Any] | None:
    """The writer's queue if a record from ``logger`` would reach that alone, unchanged."""
    node: Any = logger
    while node.parent is not None:  # up to the root
        if node.handlers or node.filters or not node.propagate:
            return None
        node = node.parent
    handlers = node.handlers
    if len(handlers) != 1 or node.filters or type(handlers[0]) is not _Enqueue:
        return None
    handler = handlers[0]
    if handler.filters or level < handler.level or _writer is None:
        return None
    return handler.queue if handler.queue is _writer.queue else None


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
