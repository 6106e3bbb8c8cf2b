"""A lean keep-alive HTTP/1.1 client for the generator's hot path (gevent sockets).

Each request is built to bytes once, before the load (:func:`raw_request`); sending one is a
``sendall`` of those bytes and reading the answer with geventhttpclient's C-parser response
class. That costs a third of the CPU of ``HTTPClient.request`` (header objects are merged and
serialised per call there), which is what lets one core send more than stock Locust.

Connections are kept per host, reused last-in first-out (hot ones stay hot), and closed
instead of reused once idle longer than ``idle_s`` (below common server keep-alive timeouts,
uvicorn's 5 s). A request whose reused connection turns out closed before any answer byte
arrived (the server timed it out in the meantime) is sent once more on a fresh connection,
as browsers do; any other failure is the caller's to count.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["HostPool", "raw_request"]


def raw_request(
    method: str, uri: str, host: str, port: int, headers: Mapping[str, str], body: bytes
) -> bytes:
    """The bytes of one HTTP/1.1 request with a Content-Length (always sent, also 0)."""
    lines = [f"{method} {uri} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [
        f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")
    ]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class HostPool:
    """Keep-alive connections to one ``host:port``, at most ``max_connections`` at once."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_connections: int,
        connect_timeout_s: float,
        idle_s: float = 4.0,
    ) -> None:
        from gevent.lock import BoundedSemaphore

        self.host = host
        self.port = port
        self.connect_timeout_s = connect_timeout_s
        self.idle_s = idle_s
        self._idle: list[tuple[Any, float]] = []  # (socket, monotonic time it went idle)
        self._slots = BoundedSemaphore(max_connections)
        self.opened = 0

    def _connect(self) -> Any:
        import gevent.socket

        sock = gevent.socket.create_connection(
            (self.host, self.port), timeout=self.connect_timeout_s
        )
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # No per-operation timeout: a gevent socket with one arms a timer on every wait. The
        # generator's watchdog ends requests older than the timeout instead.
        sock.settimeout(None)
        self.opened += 1
        return sock

    def _take(self) -> tuple[Any, bool]:
        """A connection and whether it was reused."""
        now = time.monotonic()
        while self._idle:
            sock, since = self._idle.pop()
            if now - since < self.idle_s:
                return sock, True
            sock.close()
        return self._connect(), False

    def call(self, raw: bytes, method: str = "POST") -> int:
        """Send ``raw``, read the whole answer, return its status code."""
        from geventhttpclient.response import HTTPConnectionClosed, HTTPSocketResponse

        with self._slots:
            sock, reused = self._take()
            try:
                try:
                    sock.sendall(raw)
                    resp = HTTPSocketResponse(sock, method=method)
                except (HTTPConnectionClosed, ConnectionResetError, BrokenPipeError):
                    if not reused:
                        raise
                    sock.close()  # stale keep-alive connection: once more on a fresh one
                    sock = self._connect()
                    sock.sendall(raw)
                    resp = HTTPSocketResponse(sock, method=method)
                resp.read()
            except BaseException:
                sock.close()
                raise
            if resp.should_close():
                sock.close()
            else:
                self._idle.append((sock, time.monotonic()))
            return int(resp.status_code)

    def close(self) -> None:
        while self._idle:
            self._idle.pop()[0].close()
