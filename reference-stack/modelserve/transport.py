"""uvicorn's HTTP protocol with TCP_NODELAY set on every accepted connection, and a response's
writes sent together.

Without TCP_NODELAY a Python upstream behind Envoy showed 44 ms p50 (Nagle's algorithm holding
the response's last segment until the peer's delayed ACK); with it, 2 ms (FIELD-NOTES).
asyncio sets the option itself on some versions and event loops, but not on every one we may
run on, so it is set explicitly and checked by a test.

With Nagle off, every ``transport.write`` leaves at once as its own system call and segment,
and uvicorn writes a response's status line and headers, then its body, separately: two of
each per response. :class:`CoalescingTransport` joins what is written in one turn of the
event loop into one write.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CLIENT_GONE", "CoalescingTransport", "NoDelayHttpProtocol", "set_nodelay"]

#: Scope key: a callable that tells whether the request's client has closed its connection.
#: ASGI has no way to ask without awaiting ``receive``; the server reads it once per answered
#: request, to count a client that left as 499 rather than as the status it never received.
CLIENT_GONE = "modelserve.client_gone"


def set_nodelay(transport: asyncio.BaseTransport) -> bool:
    """Set TCP_NODELAY on ``transport``'s socket; False where it is not a TCP socket."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    with contextlib.suppress(OSError):  # the peer may already be gone
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return True
    return False


class CoalescingTransport:
    """A connection's transport whose writes within one event-loop turn go out as one.

    The first write of a turn schedules a flush (``call_soon``: later in the same turn,
    before the loop polls again), so nothing waits on a timer; :meth:`close` and
    :meth:`set_protocol` flush first. Everything else is the wrapped transport's.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._eof = False  # write_eof was called: later writes are dropped, as after close

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data or self._eof:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._eof = True
        self._transport.write_eof()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self._transport.set_protocol(protocol)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class NoDelayHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def on_headers_complete(self) -> None:
        self.scope[CLIENT_GONE] = self.transport.is_closing  # type: ignore[literal-required]
        super().on_headers_complete()
