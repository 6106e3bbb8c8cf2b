"""The holding proxy: requests to a service at zero replicas wait, they do not fail.

What the KEDA HTTP add-on's interceptor does. While a service has no ready replica its Envoy
cluster points here; each request is counted as pending (the autoscaler treats pending
requests as an active trigger, so the service scales from zero at once), held until a replica
is ready or ``holdTimeoutSeconds`` passes (then 504 with a JSON error), and forwarded to that
replica as it came. The time from the first held request to the first ready replica is the
service's cold start, recorded by the controller.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.platform.local.respond import send_json
from harness.ports import LOOPBACK

__all__ = ["HoldProxy"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


class HoldProxy:
    """One listening port per service; ``pick`` returns a ready replica's port or None."""

    def __init__(
        self,
        service: str,
        port: int,
        *,
        pick: Callable[[str], int | None],
        timeout_s: Callable[[], float],
        on_hold: Callable[[str, int], None],
    ) -> None:
        self.service = service
        self.port = port
        self.pending = 0
        self._pick = pick
        self.timeout_s = timeout_s
        self._on_hold = on_hold
        self._cond = threading.Condition()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        self._server = ThreadingHTTPServer((LOOPBACK, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"hold-{service}", daemon=True
        )
        self._thread.start()

    def notify(self) -> None:
        """Wake held requests: the controller calls this when readiness changes."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.notify()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self._cond:
            self.pending += 1
            self._on_hold(self.service, self.pending)
        try:
            deadline = time.monotonic() + self.timeout_s()
            port = self._pick(self.service)
            with self._cond:
                while port is None and time.monotonic() < deadline:
                    self._cond.wait(timeout=min(0.1, max(deadline - time.monotonic(), 0)))
                    port = self._pick(self.service)
        finally:
            with self._cond:
                self.pending -= 1
        if port is None:
            return send_json(
                h,
                504,
                {"error": f"no replica of {self.service} became ready within the hold timeout"},
            )
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=self.timeout_s())
        try:
            conn.request(h.command, h.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            h.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP and k.lower() != "content-length":
                    h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (OSError, http.client.HTTPException) as exc:
            send_json(h, 502, {"error": f"replica of {self.service} failed: {exc}"})
        finally:
            conn.close()
