"""Spot capacity: an EC2 instance metadata endpoint per node, and the termination handler.

``MetadataServer`` serves what amazon-ec2-metadata-mock serves for a spot instance, on its own
loopback port per node: IMDSv2 tokens (``PUT /latest/api/token``), ``instance-id``,
``instance-life-cycle``, and -- once triggered -- ``spot/instance-action`` (``{"action":
"terminate", "time": ...}``, 404 before) and ``events/recommendations/rebalance``
(``{"noticeTime": ...}``, 404 before).

The termination handler (``poll_notice``) reads those endpoints over HTTP as
aws-node-termination-handler does in IMDS mode; the controller then cordons the node, stops
routing to it, evicts its replicas gracefully and reschedules them before the notice expires.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness import loopback
from harness.platform.local.respond import send
from harness.ports import LOOPBACK

__all__ = ["MetadataServer", "Notice", "iso", "poll_notice"]


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class MetadataServer:
    def __init__(self, node: str, port: int, *, spot: bool) -> None:
        self.node = node
        self.port = port
        self.spot = spot
        self.instance_id = "i-" + secrets.token_hex(8)
        self.action_time: float | None = None
        self.rebalance_time: float | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: str, ctype: str = "text/plain") -> None:
                send(self, status, body.encode(), ctype)

            def do_PUT(self) -> None:
                if self.path == "/latest/api/token":
                    return self._send(200, secrets.token_hex(16))
                self._send(404, "Not Found")

            def do_GET(self) -> None:
                p = self.path.rstrip("/")
                md = "/latest/meta-data"
                if p == f"{md}/instance-id":
                    return self._send(200, server.instance_id)
                if p == f"{md}/instance-life-cycle":
                    return self._send(200, "spot" if server.spot else "on-demand")
                if p == f"{md}/spot/instance-action":
                    if server.action_time is None:
                        return self._send(404, "Not Found")
                    body = json.dumps({"action": "terminate", "time": iso(server.action_time)})
                    return self._send(200, body, "application/json")
                if p == f"{md}/events/recommendations/rebalance":
                    if server.rebalance_time is None:
                        return self._send(404, "Not Found")
                    body = json.dumps({"noticeTime": iso(server.rebalance_time)})
                    return self._send(200, body, "application/json")
                self._send(404, "Not Found")

        self._server = ThreadingHTTPServer((LOOPBACK, port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def interrupt(self, notice_s: float) -> float:
        """Post a spot interruption notice; returns the termination time (unix s)."""
        self.action_time = time.time() + notice_s
        return self.action_time

    def recommend_rebalance(self) -> None:
        self.rebalance_time = time.time()

    def clear(self) -> None:
        self.action_time = None
        self.rebalance_time = None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Notice:
    kind: str  # "terminate" | "rebalance"
    at: float  # termination time, or the notice time for a rebalance


def _get(port: int, path: str, token: str) -> tuple[int, str]:
    req = urllib.request.Request(
        f"http://{LOOPBACK}:{port}{path}", headers={"X-aws-ec2-metadata-token": token}
    )
    try:
        with loopback.urlopen(req, timeout=1) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (urllib.error.URLError, OSError):
        return 0, ""


def poll_notice(port: int) -> Notice | None:
    """One IMDSv2 poll of a node, as aws-node-termination-handler does."""
    try:
        req = urllib.request.Request(
            f"http://{LOOPBACK}:{port}/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"},
        )
        with loopback.urlopen(req, timeout=1) as resp:
            token = resp.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    status, body = _get(port, "/latest/meta-data/spot/instance-action", token)
    if status == 200:
        t = json.loads(body)["time"]
        return Notice(
            "terminate", datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        )
    status, body = _get(port, "/latest/meta-data/events/recommendations/rebalance", token)
    if status == 200:
        t = json.loads(body)["noticeTime"]
        return Notice(
            "rebalance", datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        )
    return None
