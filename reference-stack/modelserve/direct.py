"""The JSON inference route answered from the HTTP protocol, without ASGI.

For a small model, serving costs as much as the forward pass is allowed to (docs/
model-server.md). uvicorn's ASGI machinery is a fifth of it: per request, a
``RequestResponseCycle``, a task, the receive and send messages, Starlette's request and
response objects. This protocol is uvicorn's, and it answers a plain JSON ``POST`` to the
model's JSON route itself. It collects the body, and hands it to
:meth:`~modelserve.common.app.ModelServer.serve_json_now`, which takes the same steps as the
ASGI path and calls back with the response. The protocol then writes that response, in one
write, and carries on as uvicorn does after a response.

Everything else goes through uvicorn and the app unchanged:
- other paths and methods;
- a query string;
- chunked bodies, or bodies without a length or over ``MAX_BODY_BYTES`` (the app answers
  413);
- ``Expect: 100-continue``, upgrades, multipart;
- a request pipelined behind one in progress;
- servers with fault hooks (:attr:`ModelServer.serves_json_directly`).

A request too costly to parse on the event loop is parsed on the server's parse pool, and
answered from the batch's callback as any other.

What uvicorn's protocol reads of its current cycle (keep-alive, completion, disconnects,
shutdown) it reads from :class:`_DirectCycle`. So ``shutdown()`` at SIGTERM and the
keep-alive timer behave as they do for an ASGI request. ``MSAI_<KIND>_DIRECT_HTTP=false``
turns the path off.
"""

from __future__ import annotations

import functools
from typing import Any

from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from modelserve.common.app import ModelServer, headers_dict
from modelserve.common.errors import ClientGone, RequestTimeout
from modelserve.limits import LimitedHttpProtocol, limited_protocol

__all__ = ["DirectHttpProtocol", "direct_protocol"]


class _NoEvent:
    """Stands in for the cycle's ``asyncio.Event``: nothing awaits a direct request's body."""

    def set(self) -> None:
        return None


_NO_EVENT = _NoEvent()


class _DirectCycle:
    """The attributes of uvicorn's ``RequestResponseCycle`` that its protocol uses."""

    __slots__ = ("body", "disconnected", "keep_alive", "message_event", "response_complete")

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive  # shutdown() clears it: close after the answer
        self.response_complete = False
        self.disconnected = False  # set by connection_lost
        self.body = bytearray()  # ours: the protocol's on_body for a direct request fills it
        self.message_event = _NO_EVENT


class DirectHttpProtocol(LimitedHttpProtocol):
    """:class:`LimitedHttpProtocol` that answers the JSON route itself; bind a server with
    :func:`direct_protocol`."""

    model_server: ModelServer
    _path: bytes
    _max_body: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._direct: _DirectCycle | None = None  # the request being read, when direct

    def _is_direct(self) -> bool:
        if self.url != self._path or self.parser.get_method() != b"POST":
            return False
        if self.expect_100_continue or self.parser.should_upgrade():
            return False
        if self.cycle is not None and not self.cycle.response_complete:
            return False  # pipelined behind a request in progress: uvicorn queues it
        if self.limit_concurrency is not None:
            return False
        length = None
        for name, value in self.headers:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding" or (
                name == b"content-type" and value.startswith(b"multipart/form-data")
            ):
                return False
        return length is not None and length.isdigit() and int(length) <= self._max_body

    def _current(self) -> object:
        return self.cycle  # uvicorn types it as its own cycle; here it may be a _DirectCycle

    def on_headers_complete(self) -> None:
        if self._is_direct():
            self.check_head()
            # As uvicorn: HTTP/1.0 closes after the answer.
            keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
            self._direct = self.cycle = _DirectCycle(keep_alive)  # type: ignore[assignment]
            return
        self._direct = None
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        direct = self._direct
        if direct is None or self._current() is not direct:
            super().on_body(body)
            return
        direct.body += body  # bounded: the declared length was checked

    def on_message_complete(self) -> None:
        direct = self._direct
        if direct is None or self._current() is not direct:
            super().on_message_complete()
            return
        self._direct = None
        self._reading = False
        if self._read_timer is not None:
            self._end_read()
        self.model_server.serve_json_now(
            headers_dict(self.headers), bytes(direct.body), functools.partial(self._respond, direct)
        )

    def connection_lost(self, exc: Exception | None) -> None:
        direct = self._direct
        if direct is not None and self._current() is direct:  # gone before its body was in
            self._direct = None
            self.model_server.count_unread(self._path.decode("ascii"), ClientGone.status)
        super().connection_lost(exc)

    def _read_timed_out(self) -> None:
        direct = self._direct
        if direct is not None and self._current() is direct and not self.transport.is_closing():
            self._direct = None  # a timeout, not a client that left
            self.model_server.count_unread(self._path.decode("ascii"), RequestTimeout.status)
        super()._read_timed_out()

    def _respond(self, cycle: _DirectCycle, response: Response) -> bool:
        """Write ``response`` as uvicorn's ``send`` would, then go on as after any response;
        False when the client has gone (nothing written)."""
        cycle.response_complete = True
        transport = self.transport
        if transport.is_closing():  # the client went away; the ASGI path drops it too
            return False
        out = [STATUS_LINE[response.status_code]]
        has_close = False
        for name, value in (*self.server_state.default_headers, *response.raw_headers):
            out += (name, b": ", value, b"\r\n")
            if name == b"connection" and value == b"close":  # set by ModelServer while draining
                has_close = True
        keep_alive = cycle.keep_alive = cycle.keep_alive and not has_close
        if not keep_alive and not has_close:
            out.append(b"connection: close\r\n")
        out += (b"\r\n", bytes(response.body))
        transport.write(b"".join(out))
        if not keep_alive:
            transport.close()  # flushes first (CoalescingTransport)
        self.on_response_complete()
        return True


def direct_protocol(server: ModelServer) -> type[LimitedHttpProtocol]:
    """The HTTP protocol class for ``server``, with its limits: :class:`DirectHttpProtocol`
    bound to it, or :class:`LimitedHttpProtocol` when it does not serve its JSON route
    directly."""
    limits = server.http_limits
    if not server.serves_json_directly or server.json_route is None:
        return limited_protocol(limits)
    return limited_protocol(
        limits,
        DirectHttpProtocol,
        model_server=server,
        _path=server.json_route.path.encode("ascii"),
        _max_body=server.settings.max_body_bytes,
    )
