"""Small readiness helpers: wait for a TCP port or an HTTP status, with a clear timeout error."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable

from harness.errors import PlatformError
from harness.ports import LOOPBACK

__all__ = ["http_status", "tcp_open", "wait_for"]


def tcp_open(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(port: int, path: str, *, timeout: float = 0.5, method: str = "GET") -> int | None:
    """The status of one request, or None when nothing answered."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def _tail(log: str, lines: int = 12) -> str:
    """The end of a log, indented, for an error message: the log file itself is overwritten
    by the next start, so a CI report would otherwise keep only its name."""
    try:
        with open(log, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    end = [line for line in text.splitlines() if line.strip()][-lines:]
    return "".join(f"\n    {line}" for line in end)


def wait_for(
    what: str,
    check: Callable[[], bool],
    *,
    timeout_s: float,
    alive: Callable[[], bool] | None = None,
    log: str | None = None,
    interval_s: float = 0.05,
) -> None:
    """Poll ``check`` until true; fail early if ``alive`` says the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if alive is not None and not alive():
            hint = f"; see {log}{_tail(log)}" if log else ""
            raise PlatformError(f"{what} exited while starting{hint}")
        time.sleep(interval_s)
    hint = f"; see {log}" if log else ""
    raise PlatformError(f"{what} not ready after {timeout_s:.0f} s{hint}")
