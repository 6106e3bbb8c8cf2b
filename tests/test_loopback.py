"""The harness's calls to its own servers work with an environment proxy that cannot reach them.

Every test points HTTP_PROXY (and friends) at a dead loopback port and leaves NO_PROXY unset,
as on a laptop behind a corporate proxy; the plain library call is shown to fail first, so the
test would catch a caller going around :mod:`harness.loopback`."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import loopback
from harness.monitoring import Expression
from harness.observers import AlertObserver, MonitoringObserver
from harness.platform.local.envoy import EnvoyAdmin
from harness.platform.local.spot import MetadataServer, poll_notice
from harness.ports import LOOPBACK, free_port
from harness.record import RunRecord, read_events


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = b"LIVE" if self.path == "/ready" else json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[int]:
    srv = ThreadingHTTPServer((LOOPBACK, free_port()), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def dead_proxy(monkeypatch: pytest.MonkeyPatch) -> str:
    proxy = f"http://{LOOPBACK}:{free_port()}"  # nothing listens there
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy", "all_proxy", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
    return proxy


def test_plain_clients_go_through_the_dead_proxy(server: int, dead_proxy: str) -> None:
    url = f"http://{LOOPBACK}:{server}/x"
    # build_opener reads the proxy variables now (urlopen's shared opener keeps the first ones)
    with pytest.raises(urllib.error.URLError, match="refused"):
        urllib.request.build_opener().open(url, timeout=2)
    with pytest.raises(httpx.ConnectError, match="refused"):
        httpx.get(url, timeout=2)


@pytest.mark.parametrize("host", [LOOPBACK, "localhost"])
def test_loopback_calls_ignore_the_proxy(server: int, dead_proxy: str, host: str) -> None:
    url = f"http://{host}:{server}/x"
    with loopback.urlopen(urllib.request.Request(url), timeout=2) as resp:
        assert json.loads(resp.read()) == {"path": "/x"}
    assert loopback.get(url, timeout=2).json() == {"path": "/x"}
    assert loopback.request("GET", url, timeout=2).status_code == 200
    with loopback.client(f"http://{host}:{server}", timeout=2) as c:
        assert c.get("/y").json() == {"path": "/y"}


def test_harness_callers_ignore_the_proxy(server: int, dead_proxy: str) -> None:
    assert EnvoyAdmin(server).ready()
    node = MetadataServer("n1", free_port(), spot=True)
    try:
        node.interrupt(120)
        notice = poll_notice(node.port)
    finally:
        node.close()
    assert notice is not None
    assert notice.kind == "terminate"


def test_other_hosts_still_use_the_environment(dead_proxy: str) -> None:
    # The dead proxy refuses the connection: proof the call went to it, not to the host.
    with pytest.raises(urllib.error.URLError, match="refused"):
        loopback.urlopen("http://staging.example.invalid/", timeout=2)
    with pytest.raises(httpx.ConnectError, match="refused"):
        loopback.get("http://staging.example.invalid/", timeout=2)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9090", True),
        ("http://127.5.0.1/", True),
        ("http://[::1]:80/", True),
        ("ws://localhost:1/devtools", True),
        ("http://api.localhost/", True),
        ("http://10.0.0.1/", False),
        ("https://prometheus.staging.example/", False),
        ("http://localhost.example.com/", False),
    ],
)
def test_is_loopback(url: str, expected: bool) -> None:
    assert loopback.is_loopback(url) is expected


def test_child_processes_get_loopback_in_no_proxy() -> None:
    env = loopback.no_proxy_env({"no_proxy": "corp.example, .internal", "HTTP_PROXY": "x"})
    assert env["NO_PROXY"] == env["no_proxy"]
    assert env["NO_PROXY"].split(",") == [
        "corp.example",
        ".internal",
        "127.0.0.1",
        "localhost",
        "::1",
    ]
    assert loopback.no_proxy_env({})["NO_PROXY"] == "127.0.0.1,localhost,::1"


def test_urllib_honours_the_child_no_proxy(
    server: int, dead_proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a child process started with no_proxy_env() sees: plain urllib reaches loopback."""
    for name, value in loopback.no_proxy_env().items():
        monkeypatch.setenv(name, value)
    with urllib.request.urlopen(f"http://{LOOPBACK}:{server}/z", timeout=2) as resp:
        assert json.loads(resp.read()) == {"path": "/z"}


class _Prometheus(BaseHTTPRequestHandler):
    """What the observers read: one firing alert, and a one-series answer to any query."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/api/v1/alerts"):
            alert = {"labels": {"alertname": "TargetDown"}, "state": "firing"}
            data: dict[str, Any] = {"alerts": [alert]}
        else:
            data = {"resultType": "vector", "result": [{"metric": {}, "value": [0, "1"]}]}
        body = json.dumps({"status": "success", "data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _PrometheusOnly:
    """The one thing the alert and monitoring observers ask of a platform."""

    def __init__(self, url: str) -> None:
        self.prometheus_url = url


def test_the_observers_ignore_the_proxy(dead_proxy: str, tmp_path: Path) -> None:
    srv = ThreadingHTTPServer((LOOPBACK, free_port()), _Prometheus)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    platform: Any = _PrometheusOnly(f"http://{LOOPBACK}:{srv.server_address[1]}")
    expr = Expression("alert:X", "up == 0", ("up",))
    try:
        with RunRecord(tmp_path / "run") as record:
            AlertObserver(platform, record).poll()
            MonitoringObserver(platform, record, [expr]).poll()
    finally:
        srv.shutdown()
        srv.server_close()
    events = list(read_events(tmp_path / "run", strict=False))
    assert [e["name"] for e in events if e.kind == "alert"] == ["TargetDown"]
    assert [e["key"] for e in events if e.kind == "promql"] == ["alert:X"]
