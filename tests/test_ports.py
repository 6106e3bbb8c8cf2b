"""harness.ports: free ports that outgoing connections cannot take before the server binds."""

import socket

import pytest

from harness import ports
from harness.ports import LOOPBACK, free_port


def test_free_ports_lie_below_the_ephemeral_range_and_bind() -> None:
    low = ports._ephemeral_low()
    drawn = {free_port() for _ in range(50)}
    assert all(ports._LOWEST <= p < low for p in drawn)
    assert len(drawn) > 40  # drawn at random, not one port handed to every caller
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, drawn.pop()))


def test_a_busy_port_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind((LOOPBACK, ports._LOWEST))
        held.listen()
        monkeypatch.setattr(ports, "_ephemeral_low", lambda: ports._LOWEST + 1000)
        monkeypatch.setattr(ports.secrets, "randbelow", lambda n: 0)  # always the busy one
        port = free_port()  # every draw is busy: the OS's choice
    assert port != ports._LOWEST


def test_without_room_below_the_range_the_os_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "_ephemeral_low", lambda: ports._LOWEST + 10)
    assert free_port() >= 1024


def test_a_port_handed_out_is_not_handed_out_again_before_it_is_bound() -> None:
    drawn = [free_port() for _ in range(300)]  # none bound: each still free when drawn
    assert len(set(drawn)) == len(drawn)
