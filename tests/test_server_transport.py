"""CoalescingTransport: one write per event-loop turn, nothing lost or reordered."""

from __future__ import annotations

import asyncio
from typing import Any

from modelserve.transport import CoalescingTransport


class _Recorder:
    """The parts of an asyncio transport the wrapper uses, recording calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", None))

    def set_protocol(self, protocol: Any) -> None:
        self.calls.append(("set_protocol", protocol))

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def _wrap() -> tuple[CoalescingTransport, _Recorder, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    raw = _Recorder()
    return CoalescingTransport(raw, loop), raw, loop  # type: ignore[arg-type]


def _turn(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(asyncio.sleep(0))


def test_writes_in_one_turn_leave_as_one_in_order() -> None:
    t, raw, loop = _wrap()
    try:
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.write(memoryview(b"body"))
        t.writelines([b"", b"-more"])
        assert raw.calls == []  # nothing yet: the flush runs later in this turn
        _turn(loop)
        assert raw.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\nbody-more")]
        t.write(b"next")
        _turn(loop)
        assert raw.calls[-1] == ("write", b"next")
        assert len(raw.calls) == 2
    finally:
        loop.close()


def test_close_and_set_protocol_flush_first() -> None:
    t, raw, loop = _wrap()
    try:
        t.write(b"a")
        t.set_protocol("upgraded")
        t.write(b"b")
        t.close()
        assert raw.calls == [
            ("write", b"a"),
            ("set_protocol", "upgraded"),
            ("write", b"b"),
            ("close", None),
        ]
        t.write(b"late")  # after close: dropped, as the transport itself would
        _turn(loop)
        assert raw.calls[-1] == ("close", None)
        assert t.get_extra_info("peername") == "info:peername"  # the rest is the transport's
    finally:
        loop.close()
