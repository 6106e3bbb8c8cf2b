"""A stand-in model replica for the platform's own tests (``python -m ... --port N``).

It speaks the same surface the platform relies on -- ``/v2/health/live``,
``/v2/health/ready``, ``/metrics`` with ``modelserve_pending_requests``,
``modelserve_requests_total`` and ``modelserve_model_ready``, and the SIGTERM drain (not ready
at once, keep serving for the drain delay, then exit 0) -- with no model, so platform tests
(routing, scaling, kills, drains) run in seconds. Any other request is answered with JSON naming
the replica; ``x-sleep-ms`` holds it that long (to build up pending requests), and
``x-status`` answers with that status. The real servers (``msai serve``) replace it whenever the
models are built.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.platform.local.respond import send, send_json

__all__ = ["main"]


class _State:
    def __init__(self, service: str, replica: str, node: str, drain_delay_s: float) -> None:
        self.service, self.replica, self.node = service, replica, node
        self.drain_delay_s = drain_delay_s
        self.ready = False
        self.pending = 0
        self.codes: dict[int, int] = {c: 0 for c in (200, 400, 413, 429, 500, 503)}
        self.lock = threading.Lock()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        super().server_bind()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY, Nagle + delayed ACK add ~40 ms behind Envoy (FIELD-NOTES).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        send(self, status, body, ctype)

    def _json(self, status: int, data: dict[str, Any]) -> None:
        send_json(self, status, data)

    def _handle(self) -> None:
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if path == "/v2/health/live":
            return self._json(200, {"live": True})
        if path == "/v2/health/ready" or path.endswith("/ready"):
            return self._json(200 if st.ready else 503, {"ready": st.ready})
        if path == "/metrics":
            return self._send(200, self._metrics().encode(), "text/plain; version=0.0.4")
        with st.lock:
            st.pending += 1
        try:
            time.sleep(float(self.headers.get("x-sleep-ms") or 0) / 1000)
            status = int(self.headers.get("x-status") or 200)
            self._json(
                status,
                {
                    "service": st.service,
                    "replica": st.replica,
                    "node": st.node,
                    "path": path,
                    "bytes": len(body),
                },
            )
        finally:
            with st.lock:
                st.pending -= 1
                st.codes[status] = st.codes.get(status, 0) + 1

    def _metrics(self) -> str:
        st = self.server.state
        m = st.service
        lines = [
            "# TYPE modelserve_pending_requests gauge",
            f'modelserve_pending_requests{{model="{m}"}} {st.pending}',
            "# TYPE modelserve_model_ready gauge",
            f'modelserve_model_ready{{model="{m}"}} {1 if st.ready else 0}',
            "# TYPE modelserve_requests_total counter",
        ]
        lines += [
            f'modelserve_requests_total{{model="{m}",route="json",code="{c}"}} {n}'
            for c, n in sorted(st.codes.items())
        ]
        return "\n".join(lines) + "\n"

    do_GET = _handle
    do_POST = _handle


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("service")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--load-s", type=float, default=None, help="simulated model load time")
    a = ap.parse_args(argv)
    if a.load_s is None:  # per service, so one slow service can be tested beside fast ones
        a.load_s = float(os.environ.get(f"MSAI_FAKE_LOAD_S_{a.service.upper()}", "0"))
    st = _State(
        a.service,
        os.environ.get("MSAI_REPLICA", a.service),
        os.environ.get("MSAI_NODE", ""),
        float(os.environ.get("MSAI_DRAIN_DELAY_S", "0.5")),
    )
    srv = _Server(("127.0.0.1", a.port), _Handler)
    srv.state = st

    def on_term(signum: int, frame: object) -> None:
        st.ready = False

        def finish() -> None:
            time.sleep(st.drain_delay_s)
            while st.pending:
                time.sleep(0.01)
            srv.shutdown()

        threading.Thread(target=finish, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)

    def load() -> None:
        time.sleep(a.load_s)
        st.ready = True

    threading.Thread(target=load, daemon=True).start()
    srv.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
