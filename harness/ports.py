"""Loopback port helpers: free ports for tests and stacks, and naming who holds a busy one."""

from __future__ import annotations

import socket

import psutil

from harness.errors import PortInUse

__all__ = ["LOOPBACK", "check_free", "free_port", "holder_of"]

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port the OS says is free now on 127.0.0.1 (racy by nature; bind soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def holder_of(port: int) -> str:
    """Which process listens on ``port`` ("pid 123 (redis-server)"), or "an unknown process"."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            listening = conn.laddr and conn.laddr.port == port and conn.status == "LISTEN"
            if listening and conn.pid:
                try:
                    return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                except psutil.Error:
                    return f"pid {conn.pid}"
    except psutil.Error:
        pass
    return "an unknown process"


def check_free(port: int) -> None:
    """Raise :class:`PortInUse` naming the holder when ``port`` cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            raise PortInUse(port, holder_of(port)) from None
