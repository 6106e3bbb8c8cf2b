"""Limits and timeouts of the HTTP protocol: what one client may hold of a replica.

uvicorn's httptools protocol has none of its own for the request head: a 64 MiB header was
read into memory whole, and a connection that sends nothing, or one byte a second, stayed
open for ever. :class:`LimitedHttpProtocol` (under every replica's protocol) refuses:

- a connection past ``max_connections`` open ones: 503 with ``Retry-After``, then closed;
- a request line longer than ``max_url_bytes``: 414;
- header fields over ``max_header_bytes`` in all, or more than ``max_headers``: 431;
- a request not fully received ``read_timeout_s`` after its first byte (slow headers or a
  slow body): 408, then closed;
- a connection with no request: closed after ``idle_timeout_s`` (uvicorn's keep-alive timer,
  armed here from the connection's start as well, not only after a response).

Each refusal is one JSON body naming the limit and the setting, and closes the connection.
The common request pays a few flag tests: the timer is only armed when a request is still
incomplete at the end of a read, and header fields are only summed when the reads they came
in could hold more than the limit.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from modelserve.transport import NoDelayHttpProtocol

__all__ = ["TIMED_OUT", "HttpLimits", "LimitedHttpProtocol", "limited_protocol"]

#: Scope key set when the read timeout closed the connection during the body, so the app
#: counts the request as 408 rather than as a client that left (499).
TIMED_OUT = "modelserve.timed_out"
#: After a refusal, seconds the connection is still read (and the data dropped) before it
#: closes; the client has its answer from the start.
LINGER_S = 1.0


@dataclass(frozen=True)
class HttpLimits:
    """The protocol's limits (``ServerSettings`` carries the same names, with units)."""

    max_connections: int = 2048
    max_url_bytes: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    read_timeout_s: float = 30.0
    idle_timeout_s: float = 5.0


class _Refused(Exception):  # stops the parser after a refusal; never escapes
    pass


class LimitedHttpProtocol(NoDelayHttpProtocol):
    """:class:`NoDelayHttpProtocol` with :class:`HttpLimits`; bind with :func:`limited_protocol`."""

    limits = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading = False  # a request has begun and is not complete
        self._in_head = False  # a request has begun and its head is not complete
        self._head_read = 0  # bytes read while its head was incomplete: the parser buffers a
        # field until it ends, so a huge one is refused here, as it arrives
        self._last_read = 0  # bytes of the read being parsed
        self._read_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        full = len(self.connections) >= self.limits.max_connections
        super().connection_made(transport)
        if full:
            self.refuse(
                503,
                f"this replica holds its limit of {self.limits.max_connections} connections",
                "MAX_CONNECTIONS",
                retry_after=True,
            )
            return
        # uvicorn arms its keep-alive timer only after a response; a connection that never
        # sends a request would otherwise stay open.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_read()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's, less its warning for a parse the limits stopped, plus the limits.
        self._unset_keepalive_if_required()
        if self._refused:
            return  # the rest of a refused request, read only to be dropped (see refuse)
        if self._in_head:
            self._head_read += len(data)
            if self._head_read > self.limits.max_header_bytes + self.limits.max_url_bytes:
                self._refuse_head()
                return
        self._last_read = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            if not self._refused:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            return
        if self._reading and self._read_timer is None:
            self._read_timer = self.loop.call_later(
                self.limits.read_timeout_s, self._read_timed_out
            )

    def on_message_begin(self) -> None:
        self._reading = self._in_head = True
        self._head_read = 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self.check_head()
        super().on_headers_complete()

    def check_head(self) -> None:
        """Refuse a head past the limits, once it is in. Its fields are summed only when the
        reads it came in could hold more than the limit: a request that arrives in one read
        smaller than ``max_header_bytes`` (nearly all) costs two comparisons."""
        self._in_head = False
        limits = self.limits
        if self._head_read + self._last_read > limits.max_header_bytes:
            size = sum(len(name) + len(value) for name, value in self.headers)
            if size > limits.max_header_bytes:
                self._refuse_head()
                raise _Refused
        if len(self.headers) > limits.max_headers:
            self.refuse(431, f"more than {limits.max_headers} header fields", "MAX_HEADERS")
            raise _Refused

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.limits.max_url_bytes:
            self.refuse(
                414, f"request line over {self.limits.max_url_bytes} bytes", "MAX_URL_BYTES"
            )
            raise _Refused

    def _refuse_head(self) -> None:
        size = self.limits.max_header_bytes
        self.refuse(431, f"header fields over {size} bytes", "MAX_HEADER_BYTES")

    def on_message_complete(self) -> None:
        self._reading = False
        if self._read_timer is not None:
            self._end_read()
        super().on_message_complete()

    def _end_read(self) -> None:
        self._reading = False
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if not self._reading or self.transport.is_closing():
            return
        self._reading = False
        if self.cycle is not None and not self.cycle.response_complete:
            self.scope[TIMED_OUT] = True  # type: ignore[literal-required]
        self.refuse(
            408,
            f"request not received within {self.limits.read_timeout_s:g} s of its start",
            "READ_TIMEOUT_S",
        )

    def refuse(self, status: int, message: str, setting: str, retry_after: bool = False) -> None:
        """Answer ``status`` with a JSON body naming the limit's ``setting``, and close.

        The close lingers: the answer goes out with a FIN, what the client still sends is
        read and dropped, and the socket closes after ``LINGER_S``. Closing at once, with its
        unread data, would send a reset, and the client would lose the answer."""
        self._refused = True
        self._end_read()
        body = json.dumps(
            {"error": message, "type": "LimitExceeded", "field": setting},
            separators=(",", ":"),
        ).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += (name, b": ", value, b"\r\n")
        head += (
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"retry-after: 1\r\n" if retry_after else b"",
            b"connection: close\r\n\r\n",
            body,
        )
        self.transport.write(b"".join(head))
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()


def limited_protocol(
    limits: HttpLimits, base: type[LimitedHttpProtocol] = LimitedHttpProtocol, **attrs: Any
) -> type[LimitedHttpProtocol]:
    """``base`` bound to ``limits`` (and any other class ``attrs``)."""
    return type(f"Bound{base.__name__}", (base,), {"limits": limits, **attrs})
