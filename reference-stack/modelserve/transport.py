"""uvicorn's HTTP protocol with TCP_NODELAY set on every accepted connection.

Without it a Python upstream behind Envoy showed 44 ms p50 (Nagle's algorithm holding the
response's last segment until the peer's delayed ACK); with it, 2 ms (FIELD-NOTES). asyncio
sets the option itself on some versions and event loops, but not on every one we may run
on, so it is set explicitly and checked by a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["NoDelayHttpProtocol", "set_nodelay"]


def set_nodelay(transport: asyncio.BaseTransport) -> bool:
    """Set TCP_NODELAY on ``transport``'s socket; False where it is not a TCP socket."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    with contextlib.suppress(OSError):  # the peer may already be gone
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return True
    return False


class NoDelayHttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)
