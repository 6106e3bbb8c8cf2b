"""Loopback port helpers: free ports for tests and stacks, and naming who holds a busy one."""

from __future__ import annotations

import secrets
import socket
from collections import deque

import psutil

from harness.errors import PortInUse

__all__ = ["LOOPBACK", "check_free", "free_port", "holder_of"]

LOOPBACK = "127.0.0.1"


# Where free_port looks: below the kernel's ephemeral range. A port from that range (what
# bind(0) hands out) is also the source port of any outgoing connection, so between the check
# and the server's own bind, a client anywhere on the machine could take it (seen in CI: Envoy
# "cannot bind 127.0.0.1:55635: Address already in use" while the stack's other processes
# were opening connections).
_LOWEST = 10000
_TRIES = 200
# Ports handed out lately. Free is not taken: a stack draws all its ports before its servers
# bind them, and two draws of one port would leave one server unable to bind (about one
# stack in 1,500 for six draws over 22,768 ports; CI brings a stack up dozens of times).
_recent: deque[int] = deque(maxlen=512)


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port free now on 127.0.0.1 (racy by nature; bind soon after), drawn at random below
    the ephemeral range so outgoing connections cannot take it meanwhile, and never one of
    the last 512 this process handed out; where that range leaves no room, or every draw is
    busy, the OS's choice."""
    low = _ephemeral_low()
    if low - _LOWEST >= 1000:
        for _ in range(_TRIES):
            port = _LOWEST + secrets.randbelow(low - _LOWEST)
            if port not in _recent and _bindable(port):
                _recent.append(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        port = int(s.getsockname()[1])
    _recent.append(port)
    return port


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
