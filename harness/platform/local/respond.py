"""Answers from the local platform's standard-library HTTP servers: the controller's API, the
hold proxy, the EC2 metadata endpoint and the fake replicas (and the tests' fakes)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

__all__ = ["send", "send_json"]


def send(h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    """``body`` with its type and length (keep-alive clients need the length)."""
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def send_json(h: BaseHTTPRequestHandler, status: int, data: Any) -> None:
    send(h, status, json.dumps(data).encode(), "application/json")
