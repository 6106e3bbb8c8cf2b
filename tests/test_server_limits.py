"""HTTP limits and timeouts (``modelserve.limits``), over real sockets to a real replica.

Each refusal is a JSON answer naming the setting, and the connection is closed; the replica
goes on serving everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from modelserve.cli import uvicorn_config
from modelserve.common.server_settings import ServerSettings
from modelserve.common.testing import FakeSettings, create_fake_app, http_ready, wait_until

from harness.ports import free_port

LIMITS = {
    "max_url_bytes": 256,
    "max_header_bytes": 1024,
    "max_headers": 10,
    "read_timeout_s": 0.5,
    "keep_alive_s": 0.5,
    "max_connections": 6,
}


def _serve(settings: ServerSettings) -> Iterator[int]:
    port = free_port()
    app = create_fake_app(settings, FakeSettings(batch_cost_ms=1.0, item_cost_ms=0.0))
    server = uvicorn.Server(uvicorn_config(app, port=port))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        wait_until(lambda: http_ready(f"http://127.0.0.1:{port}"), timeout=10)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
    assert not thread.is_alive()


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    yield from _serve(ServerSettings(drain_delay_s=0, drain_deadline_s=1, **LIMITS))


def _answer(sock: socket.socket, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes, float]:
    """(status, headers, body, seconds until the server closed) of the one answer on ``sock``."""
    sock.settimeout(timeout)
    t0 = time.monotonic()
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    closed = time.monotonic() - t0
    if not data:
        return 0, {}, b"", closed
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body, closed


def _send(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        # Refused before all of it was read: the answer is still there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        return _answer(sock)


def _codes(port: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text.splitlines():
        if line.startswith("modelserve_requests_total{") and 'route="json"' in line:
            code = line.split('code="')[1].split('"')[0]
            out[code] = float(line.rsplit(" ", 1)[1])
    return out


@pytest.mark.parametrize(
    ("name", "raw", "status", "field"),
    [
        (
            "request line",
            b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nhost: x\r\n\r\n",
            414,
            "MAX_URL_BYTES",
        ),
        (
            "header bytes",
            b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-big: " + b"b" * 2000 + b"\r\n\r\n",
            431,
            "MAX_HEADER_BYTES",
        ),
        (
            "a 4 MiB header",
            b"GET /v2/health/live HTTP/1.1\r\nx-big: " + b"b" * (4 << 20) + b"\r\n\r\n",
            431,
            "MAX_HEADER_BYTES",
        ),
        (
            "header count",
            b"GET /v2/health/live HTTP/1.1\r\n"
            + b"".join(b"x-h%d: 1\r\n" % i for i in range(11))
            + b"\r\n",
            431,
            "MAX_HEADERS",
        ),
    ],
)
def test_oversized_heads_are_refused_naming_the_setting(
    port: int, name: str, raw: bytes, status: int, field: str
) -> None:
    got, headers, body, _ = _send(port, raw)
    assert got == status, (name, body)
    assert json.loads(body)["field"] == field
    assert headers["connection"] == "close"
    assert httpx.get(f"http://127.0.0.1:{port}/v2/health/live").status_code == 200


def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        status, _, _, closed = _answer(sock)
    assert status == 0  # closed without an answer: there was no request
    assert closed < 2.0  # keep_alive_s 0.5


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("slow headers", b"POST /v1/echo HTTP/1.1\r\nhost: x\r\ncontent-le"),
        ("slow body, direct", b'POST /v1/echo HTTP/1.1\r\ncontent-length: 40\r\n\r\n{"te'),
        ("slow body, ASGI", b'POST /v1/echo?q=1 HTTP/1.1\r\ncontent-length: 40\r\n\r\n{"te'),
    ],
)
def test_a_request_that_trickles_in_times_out_408(port: int, name: str, raw: bytes) -> None:
    before = _codes(port).get("408", 0.0)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        status, _, body, closed = _answer(sock)
    assert status == 408, (name, body)
    assert json.loads(body)["field"] == "READ_TIMEOUT_S"
    assert closed < 2.0  # read_timeout_s 0.5
    counted = 0.0 if name == "slow headers" else 1.0  # a request counts once its head is in
    wait_until(lambda: _codes(port).get("408", 0.0) == before + counted, timeout=5)


def test_connections_past_the_cap_are_refused_503_and_the_rest_served() -> None:
    gen = _serve(ServerSettings(drain_delay_s=0, drain_deadline_s=1, max_connections=4))
    port = next(gen)
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
    try:
        time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
            status, headers, body, _ = _answer(extra)
        assert status == 503
        assert headers["retry-after"] == "1"
        assert json.loads(body)["field"] == "MAX_CONNECTIONS"
        # One of the held connections is still served.
        held[0].sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        assert _answer(held[0])[0] == 200
    finally:
        for sock in held:
            sock.close()
        with pytest.raises(StopIteration):
            next(gen)


def test_a_whole_request_in_one_read_arms_no_timer(port: int) -> None:
    with httpx.Client() as c:
        for _ in range(3):
            assert c.post(f"http://127.0.0.1:{port}/v1/echo", json={"text": "a"}).status_code == 200
