"""Per-pair TCP links: how services reach their dependencies, and how we cut them.

Netem is not available here (FIELD-NOTES), so every dependency a service uses (Redis,
PostgreSQL, S3, another service through the gateway) is reached through a small TCP proxy of
its own, one per (client, server) pair: ``orchestrator->redis``, ``ner->s3`` ... A cut link
behaves like a network partition, not a refused connection: open connections are reset and new
ones are accepted but never answered (packets "dropped"), so clients see their own timeouts.
``partition(a, b)`` cuts the links between a and b in both directions; an ``outage`` in
``cut`` mode cuts every link into the dependency. Healing reopens them for new connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from harness.errors import PlatformError
from harness.ports import LOOPBACK, free_port

__all__ = ["Link", "Links"]


@dataclass
class Link:
    client: str
    server: str
    port: int
    target_port: int
    cut: bool = False
    _conns: set[asyncio.StreamWriter] = field(default_factory=set, repr=False)
    _server: asyncio.AbstractServer | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"{self.client}->{self.server}"


class Links:
    """All links, served by one asyncio loop on a background thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="links", daemon=True)
        self._thread.start()
        self.links: dict[str, Link] = {}

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def add(self, client: str, server: str, target_port: int) -> Link:
        link = Link(client, server, free_port(), target_port)
        self._call(self._serve(link))
        self.links[link.name] = link
        return link

    def port(self, client: str, server: str) -> int:
        return self.links[f"{client}->{server}"].port

    def between(self, a: str, b: str) -> list[Link]:
        return [link for link in self.links.values() if {link.client, link.server} == {a, b}]

    def into(self, server: str) -> list[Link]:
        return [link for link in self.links.values() if link.server == server]

    def set_cut(self, links: list[Link], cut: bool) -> None:
        if not links:
            raise PlatformError("no links to change")
        for link in links:
            self._call(self._set_cut(link, cut))

    async def _set_cut(self, link: Link, cut: bool) -> None:
        link.cut = cut
        if cut:
            for w in list(link._conns):
                _reset(w)
            link._conns.clear()

    async def _serve(self, link: Link) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if link.cut:
                await _blackhole(reader, writer)
                return
            try:
                up_r, up_w = await asyncio.open_connection(LOOPBACK, link.target_port)
            except OSError:
                _reset(writer)
                return
            link._conns.update((writer, up_w))
            try:
                await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
            finally:
                link._conns.discard(writer)
                link._conns.discard(up_w)
                for w in (writer, up_w):
                    with contextlib.suppress(Exception):
                        w.close()

        link._server = await asyncio.start_server(handle, LOOPBACK, link.port)

    def close(self) -> None:
        async def stop() -> None:
            for link in self.links.values():
                if link._server:
                    link._server.close()
                for w in list(link._conns):
                    _reset(w)

        with contextlib.suppress(Exception):
            self._call(stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


def _reset(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    with contextlib.suppress(Exception):
        transport.abort()  # RST, not FIN: the peer sees a broken connection at once


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.write_eof()


async def _blackhole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # Accept and swallow: like dropped packets, the client waits for its own timeout.
    with contextlib.suppress(Exception):
        while await reader.read(65536):
            pass
    _reset(writer)
