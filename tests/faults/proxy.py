"""A fault-injecting TCP proxy on loopback: pass, delay, cut and reset the connections to a server.

    proxy = FaultProxy(upstream_port=6379)
    port = await proxy.start()       # point the app at 127.0.0.1:<port>
    proxy.delay(0.2)                 # every chunk waits 200 ms in each direction
    await proxy.cut()                # resets every open connection and every new one, until restore()
    await proxy.reset()              # resets the open connections once; new ones pass
    proxy.restore()

A reset closes the socket with SO_LINGER 0, so the peer sees a TCP RST (ECONNRESET), as when a
firewall or a crashed host drops the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        _abort(self.client)
        _abort(self.upstream)
        for task in self.tasks:
            task.cancel()


class FaultProxy:
    """Forwards 127.0.0.1:<port> to the upstream server, with faults switched on and off at run time."""

    def __init__(self, *, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.latency = 0.0
        self.is_cut = False
        self.connections = 0  # accepted and forwarded
        self.resets = 0  # connections reset by cut() or reset(), or refused while cut
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.abort()
        self._links.clear()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    def delay(self, seconds: float) -> None:
        """Holds every chunk `seconds` before forwarding it (both directions; order is kept)."""
        self.latency = seconds

    async def cut(self) -> None:
        """Resets every open connection and every new one until `restore()`."""
        self.is_cut = True
        await self.reset()

    async def reset(self) -> None:
        """Resets the open connections once."""
        links, self._links = list(self._links), set()
        for link in links:
            link.abort()
        self.resets += len(links)
        await asyncio.sleep(0)

    def restore(self) -> None:
        self.is_cut = False
        self.latency = 0.0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            self.resets += 1
            _abort(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _abort(writer)
            return
        if self.is_cut:  # cut while connecting
            self.resets += 1
            _abort(writer)
            _abort(up_writer)
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        self.connections += 1
        link.tasks = [
            asyncio.create_task(self._pipe(reader, up_writer, link)),
            asyncio.create_task(self._pipe(up_reader, writer, link)),
        ]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link) -> None:
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                if self.latency:
                    await asyncio.sleep(self.latency)
                writer.write(chunk)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            # One side ended: end the other (an orderly close passes on as a close, not a reset).
            if link in self._links:
                self._links.discard(link)
                for end in (link.client, link.upstream):
                    with contextlib.suppress(Exception):
                        end.close()
