"""Spot capacity: an EC2 instance metadata endpoint per node, and the termination handler.

``MetadataServer`` serves what amazon-ec2-metadata-mock serves for a spot instance, on its own
loopback port per node, with IMDSv2 required as on an instance whose ``HttpTokens`` is
``required``: ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` (1 to
21600) returns a session token (400 without a valid TTL, 403 with ``X-Forwarded-For``), and
every ``GET`` needs that token, unexpired, in ``X-aws-ec2-metadata-token`` (401 without it, or
with an unknown or expired one). Data: ``instance-id``,
``instance-life-cycle``, and -- once triggered -- ``spot/instance-action`` (``{"action":
"terminate", "time": ...}``, 404 before) and ``events/recommendations/rebalance``
(``{"noticeTime": ...}``, 404 before).

The termination handler (``poll_notice``) reads those endpoints over HTTP as
aws-node-termination-handler does in IMDS mode; the controller then cordons the node, stops
routing to it, evicts its replicas gracefully and reschedules them before the notice expires.
"""

from __future__ import annotations

import hmac
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

__all__ = ["MAX_TOKEN_TTL_S", "MetadataServer", "Notice", "iso", "poll_notice"]

#: The longest session token EC2 issues (six hours).
MAX_TOKEN_TTL_S = 21600


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
        self._tokens: dict[str, float] = {}  # token -> expiry (monotonic s)
        self._tokens_lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: str, ctype: str = "text/plain") -> None:
                send(self, status, body.encode(), ctype)

            def do_PUT(self) -> None:
                if self.path != "/latest/api/token":
                    return self._send(404, "Not Found")
                # EC2 refuses a token request that went through a proxy.
                if self.headers.get("X-Forwarded-For") is not None:
                    return self._send(403, "Forbidden")
                ttl = server.parse_ttl(self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"))
                if ttl is None:
                    return self._send(400, "Bad Request")
                return self._send(200, server.issue_token(ttl))

            def do_GET(self) -> None:
                if not server.token_valid(self.headers.get("X-aws-ec2-metadata-token")):
                    return self._send(401, "Unauthorized")
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

    @staticmethod
    def parse_ttl(value: str | None) -> int | None:
        """The TTL a token request asked for, or None when it is missing or out of range."""
        if value is None or not value.strip().isdigit():
            return None
        ttl = int(value)
        return ttl if 1 <= ttl <= MAX_TOKEN_TTL_S else None

    def issue_token(self, ttl_s: int) -> str:
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._tokens_lock:
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + ttl_s
        return token

    def token_valid(self, token: str | None) -> bool:
        """Whether ``token`` is one this endpoint issued and has not expired (compared in
        constant time against each live token)."""
        if not token:
            return False
        now = time.monotonic()
        with self._tokens_lock:
            live = [t for t, exp in self._tokens.items() if exp > now]
        found = False
        for t in live:
            found |= hmac.compare_digest(t.encode(), token.encode())
        return found

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


class _Session:
    """One node's IMDSv2 session token, reused until shortly before it expires, as
    aws-node-termination-handler does (a token per poll would pile up on the endpoint)."""

    TTL_S = 300

    def __init__(self) -> None:
        self._tokens: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def token(self, port: int, *, fresh: bool = False) -> str | None:
        now = time.monotonic()
        with self._lock:
            held = self._tokens.get(port)
        if held is not None and not fresh and held[1] > now:
            return held[0]
        req = urllib.request.Request(
            f"http://{LOOPBACK}:{port}/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": str(self.TTL_S)},
        )
        try:
            with loopback.urlopen(req, timeout=1) as resp:
                token = str(resp.read().decode())
        except (urllib.error.URLError, OSError):
            return None
        with self._lock:
            self._tokens[port] = (token, now + self.TTL_S * 0.8)
        return token


_SESSION = _Session()


def _get(port: int, path: str) -> tuple[int, str]:
    """One GET with the node's session token; a 401 (token expired or the endpoint
    restarted) fetches a new token and tries once more."""
    status, body = 0, ""
    for fresh in (False, True):
        token = _SESSION.token(port, fresh=fresh)
        if token is None:
            return 0, ""
        req = urllib.request.Request(
            f"http://{LOOPBACK}:{port}{path}", headers={"X-aws-ec2-metadata-token": token}
        )
        try:
            with loopback.urlopen(req, timeout=1) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except (urllib.error.URLError, OSError):
            return 0, ""
        if status != 401:
            break
    return status, body


def poll_notice(port: int) -> Notice | None:
    """One IMDSv2 poll of a node, as aws-node-termination-handler does."""
    status, body = _get(port, "/latest/meta-data/spot/instance-action")
    if status == 200:
        t = json.loads(body)["time"]
        return Notice(
            "terminate", datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        )
    status, body = _get(port, "/latest/meta-data/events/recommendations/rebalance")
    if status == 200:
        t = json.loads(body)["noticeTime"]
        return Notice(
            "rebalance", datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        )
    return None
