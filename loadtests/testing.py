"""A small, fast, real HTTP server to load: for tests of the generator and for ``msai bench load``.

It answers every ``POST`` with a short JSON body after a configurable service time, like a
model server would, and can be saturated on purpose: with ``concurrency`` N, at most N
requests are served at once and the rest wait in a FIFO queue (capacity N / service time), so
queueing delay grows the way it does in front of a real model. ``error_ratio`` answers a
seeded share of requests with 500. It runs in its own process (``python -m loadtests.testing``)
on asyncio (uvloop when present) with the httptools parser: one core serves well over
10,000 requests/s, so it does not limit the generator it measures.

Routes: ``GET /v2/health/live``, ``GET /v2/health/ready`` (200), ``GET /stats`` (requests
seen), ``POST /admin/config`` (JSON with any of latency_ms, concurrency, error_ratio,
pause_ms: a pause holds every response until it ends, a stall to expose coordinated
omission; close_connections: true closes every other connection, as an expired keep-alive
timeout does), any other ``POST``/``GET``: the echo answer.

:func:`echo_server` starts one as a subprocess for the length of a ``with`` block and stops it
(and checks it is gone) on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import http.client
import json
import os
import random
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from harness.errors import PlatformError
from harness.ports import LOOPBACK, free_port

__all__ = ["EchoConfig", "EchoServer", "echo_server", "main"]

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    401: b"Unauthorized",
    404: b"Not Found",
    500: b"Internal Server Error",
}


@dataclass
class EchoConfig:
    latency_ms: float = 0.0
    concurrency: int = 0  # 0: unlimited (every request waits latency_ms, in parallel)
    error_ratio: float = 0.0
    seed: int = 1
    pause_until: float = 0.0  # monotonic; responses held until then
    require_header: str = ""  # "Name: value": echo requests without it get 401


class _State:
    def __init__(self, config: EchoConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.requests = 0
        self.unauthorized = 0
        self.peers: collections.Counter[str] = collections.Counter()  # connections a client IP
        self.busy = 0
        self.queue: collections.deque[tuple[float, Any]] = collections.deque()
        self.connections: set[_Protocol] = set()


def _response(status: int, body: bytes, keep_alive: bool) -> bytes:
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
        status,
        _REASONS.get(status, b"Status"),
        len(body),
    )
    if not keep_alive:
        head += b"connection: close\r\n"
    return head + b"\r\n" + body


class _Protocol(asyncio.Protocol):
    def __init__(self, state: _State) -> None:
        import httptools

        self.state = state
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.loop = asyncio.get_running_loop()
        name, _, value = state.config.require_header.partition(":")
        self.required = (name.strip().lower().encode(), value.strip().encode())
        self.authorized = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.state.connections.add(self)
        peer = transport.get_extra_info("peername")
        if peer:
            self.state.peers[str(peer[0])] += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            import socket

            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.state.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        import httptools

        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(_response(400, b'{"error":"bad request"}', False))
                self.transport.close()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if (name.lower(), value.strip()) == self.required:
            self.authorized = True

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        url, body = self.url, b"".join(self.body)
        self.url, self.body = b"", []
        authorized, self.authorized = self.authorized, False
        method = self.parser.get_method()
        keep = self.parser.should_keep_alive()
        path = url.split(b"?", 1)[0]
        st = self.state
        if path in (b"/v2/health/live", b"/v2/health/ready"):
            self._send(200, b'{"ready":true}', keep)
        elif path == b"/stats":
            seen = {"requests": st.requests, "unauthorized": st.unauthorized, "peers": st.peers}
            self._send(200, json.dumps(seen).encode(), keep)
        elif path == b"/admin/config" and method == b"POST":
            self._configure(body, keep)
        elif st.config.require_header and not authorized:
            st.unauthorized += 1
            self._send(401, b'{"error":"unauthorized"}', keep)
        else:
            st.requests += 1
            self._serve(path, len(body), keep)

    def _configure(self, body: bytes, keep: bool) -> None:
        cfg = self.state.config
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError("expected an object")
            for key in ("latency_ms", "error_ratio"):
                if key in data:
                    setattr(cfg, key, float(data[key]))
            if "concurrency" in data:
                cfg.concurrency = int(data["concurrency"])
            if "pause_ms" in data:
                cfg.pause_until = time.monotonic() + float(data["pause_ms"]) / 1000
            if data.get("close_connections"):
                # As a server whose keep-alive timeout expired: every other connection closes.
                for conn in list(self.state.connections):
                    if conn is not self and conn.transport is not None:
                        conn.transport.close()
        except (ValueError, TypeError) as exc:
            self._send(400, json.dumps({"error": f"bad config: {exc}"}).encode(), keep)
            return
        self._send(200, json.dumps({k: v for k, v in vars(cfg).items()}).encode(), keep)

    def _serve(self, path: bytes, size: int, keep: bool) -> None:
        st, cfg = self.state, self.state.config
        status = 500 if cfg.error_ratio and st.rng.random() < cfg.error_ratio else 200
        body = b'{"ok":%s,"path":"%s","bytes":%d}' % (
            b"true" if status == 200 else b"false",
            path,
            size,
        )

        def done() -> None:
            self._send(status, body, keep)

        delay = max(cfg.latency_ms / 1000, cfg.pause_until - time.monotonic(), 0.0)
        if cfg.concurrency <= 0:
            if delay > 0:
                self.loop.call_later(delay, done)
            else:
                done()
            return
        st.queue.append((cfg.latency_ms / 1000, done))
        _dispatch(st, self.loop)

    def _send(self, status: int, body: bytes, keep: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(_response(status, body, keep))
        if not keep:
            self.transport.close()


def _dispatch(st: _State, loop: asyncio.AbstractEventLoop) -> None:
    """Start queued requests while service slots are free (FIFO)."""
    while st.queue and st.busy < max(st.config.concurrency, 1):
        service_s, done = st.queue.popleft()
        st.busy += 1
        wait = max(service_s, st.config.pause_until - time.monotonic(), 0.0)

        def finish(done: Any = done) -> None:
            st.busy -= 1
            done()
            _dispatch(st, loop)

        loop.call_later(wait, finish)


async def _serve(
    host: str, port: int, config: EchoConfig, tls: ssl.SSLContext | None = None
) -> None:
    loop = asyncio.get_running_loop()
    state = _State(config)
    server = await loop.create_server(lambda: _Protocol(state), host, port, backlog=2048, ssl=tls)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"echo server on {host}:{port}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.testing", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=0)
    parser.add_argument("--error-ratio", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--host", default=LOOPBACK, help="address to listen on")
    parser.add_argument("--require-header", default="", help="'Name: value'; else 401")
    parser.add_argument("--certfile", default="", help="serve https with this PEM chain")
    parser.add_argument("--keyfile", default="")
    args = parser.parse_args(argv)
    config = EchoConfig(args.latency_ms, args.concurrency, args.error_ratio, args.seed)
    config.require_header = args.require_header
    tls = None
    if args.certfile:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.certfile, args.keyfile or None)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # plain asyncio is slower but correct
        runner = asyncio.run
    runner(_serve(args.host, args.port, config, tls))


@dataclass
class EchoServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    tls: bool = False
    host: str = LOOPBACK

    @property
    def pid(self) -> int:
        return self.process.pid

    def configure(self, **settings: float | bool) -> dict[str, Any]:
        """Change latency_ms / concurrency / error_ratio / pause_ms / close_connections."""
        body = json.dumps(settings).encode()
        return _request(self.host, self.port, "POST", "/admin/config", body, tls=self.tls)

    def requests_seen(self) -> int:
        return int(_request(self.host, self.port, "GET", "/stats", tls=self.tls)["requests"])

    def peers_seen(self) -> dict[str, int]:
        """Connections accepted, by client address."""
        peers = _request(self.host, self.port, "GET", "/stats", tls=self.tls)["peers"]
        return {str(k): int(v) for k, v in peers.items()}

    def unauthorized_seen(self) -> int:
        """Requests answered 401 for lacking the required header."""
        return int(_request(self.host, self.port, "GET", "/stats", tls=self.tls)["unauthorized"])


def _request(
    host: str, port: int, method: str, path: str, body: bytes | None = None, *, tls: bool = False
) -> dict[str, Any]:
    conn: http.client.HTTPConnection
    if tls:  # the harness's own admin calls: the test's certificate is not what they check
        conn = http.client.HTTPSConnection(
            host, port, timeout=5, context=ssl._create_unverified_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        data: dict[str, Any] = json.loads(resp.read())
        if resp.status != 200:
            raise PlatformError(f"echo server {method} {path}: {resp.status} {data}")
        return data
    finally:
        conn.close()


@contextlib.contextmanager
def echo_server(
    *,
    latency_ms: float = 0.0,
    concurrency: int = 0,
    error_ratio: float = 0.0,
    seed: int = 1,
    cpu: int | None = None,
    startup_timeout_s: float = 10.0,
    require_header: str = "",
    tls: tuple[str, str] | None = None,
    host: str = LOOPBACK,
) -> Iterator[EchoServer]:
    """Run the echo server in a subprocess (pinned to ``cpu`` when given) for a ``with`` block."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "loadtests.testing",
        f"--port={port}",
        f"--latency-ms={latency_ms}",
        f"--concurrency={concurrency}",
        f"--error-ratio={error_ratio}",
        f"--seed={seed}",
        f"--require-header={require_header}",
        f"--host={host}",
    ]
    if tls is not None:
        cmd += [f"--certfile={tls[0]}", f"--keyfile={tls[1]}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if cpu is not None:
            with contextlib.suppress(OSError):  # fewer CPUs than asked: run unpinned
                os.sched_setaffinity(proc.pid, {cpu})
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise PlatformError(f"echo server exited with {proc.returncode}: {err[-2000:]}")
            try:
                _request(host, port, "GET", "/v2/health/ready", tls=tls is not None)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise PlatformError(
                        f"echo server not ready on port {port} after {startup_timeout_s} s"
                    ) from None
                time.sleep(0.05)
        scheme = "https" if tls is not None else "http"
        yield EchoServer(f"{scheme}://{host}:{port}", port, proc, tls is not None, host)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if proc.stderr:
        proc.stderr.close()


if __name__ == "__main__":
    main()
