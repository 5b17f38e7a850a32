"""Real app nodes for the real-time tests: uvicorn servers in this process, sharing Redis and a database.

The nodes run in tasks of their own and commit for real, so the tests of this folder use a private
database per module (migrated, with the court directory) instead of the per-test rolled-back one:
nothing they commit can leak into other tests, and nothing needs cleaning up afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from command_center.db import Database
from command_center.identity import service as identity
from command_center.identity.principal import Role
from command_center.outbox import service as outbox
from command_center.redis_server import free_port
from command_center.services import Services
from command_center.settings import Settings
from realtime.client import LiveClient
from tests.command_center.outbox.databases import private_database

PASSWORD = "correct-horse-battery"
_serial = itertools.count(1)


@pytest.fixture(scope="module")
async def live_db(settings: Settings, tmp_root: Path) -> AsyncIterator[Database]:
    """A private committed database with the court directory, for this module's nodes."""
    from command_center.courts.service import load_courts

    async with private_database(settings, tmp_root) as db:
        async with db.unit_of_work() as session:
            await load_courts(session)
        yield db


class QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: several servers share the test process with pytest."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@dataclass
class Node:
    """One app node: create_app served by uvicorn on a loopback port."""

    name: str
    url: str
    app: Any
    services: Services
    server: QuietServer
    task: asyncio.Task[None]

    @property
    def sio(self) -> Any:
        return self.app.other_asgi_app.state.sio

    @property
    def live(self) -> Any:
        return self.sio.namespace_handlers["/live"]

    async def stop(self) -> None:
        """Shuts the node down as a deployment would (clients are disconnected, the relay stops)."""
        if self.task.done():
            return
        self.server.should_exit = True
        await self.task
        await self.services.close(dispose_db=False)


@pytest.fixture
async def start_node(settings: Settings, live_db: Database) -> AsyncIterator[Callable[..., Awaitable[Node]]]:
    """`node = await start_node("a", realtime_max_queued_packets=50)`: a running node (stopped after)."""
    nodes: list[Node] = []

    async def start(name: str = "a", **overrides: Any) -> Node:
        node_settings = settings.model_copy(update={"outbox_poll_seconds": 0.05, **overrides})
        from command_center.app import create_app

        services = await Services.start(node_settings, db=live_db)
        app = create_app(node_settings, services=services)
        port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_config=None,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        server = QuietServer(config)
        task = asyncio.create_task(server.serve(), name=f"node-{name}")
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError(f"node {name} stopped while starting")
            await asyncio.sleep(0.01)
        node = Node(name, f"http://127.0.0.1:{port}", app, services, server, task)
        nodes.append(node)
        return node

    yield start
    for node in reversed(nodes):
        await node.stop()


@dataclass
class Account:
    """A signed-in user (session cookie) or a court system (API token) of a court."""

    kind: str
    id: int
    court: str
    role: str
    cookie: str | None = None
    token: str | None = None
    csrf: str | None = None

    def client(self, urls: str | list[str], **kwargs: Any) -> LiveClient:
        return LiveClient(urls, cookie=self.cookie, token=self.token, **kwargs)


@pytest.fixture
def make_account(live_db: Database, settings: Settings) -> Callable[..., Awaitable[Account]]:
    """`await make_account("command_staff", "330000")` (signed in); `make_account("token", "330106")`."""

    async def make(role: str, court: str) -> Account:
        return await open_account(live_db, settings, role, court)

    return make


async def open_account(db: Database, settings: Settings, role: str, court: str) -> Account:
    """Creates a court system's API token (`role="token"`) or a user of `role` signed in at `court`."""
    async with db.unit_of_work() as session:
        if role == "token":
            token, plaintext = await identity.create_token(
                session, court_code=court, name=f"system-{next(_serial)}"
            )
            return Account("token", token.id, court, "clerk", token=plaintext)
        user = await identity.create_user(
            session,
            username=f"{role}_{court}_{next(_serial)}",
            password=PASSWORD,
            role=Role(role),
            court_code=court,
        )
        login, cookie = await identity.open_session(
            session, user=user, settings=settings, ip="127.0.0.1", user_agent="test"
        )
        return Account("user", user.id, court, role, cookie=cookie, csrf=login.csrf_token)


@pytest.fixture
def commit_events(live_db: Database) -> Callable[..., Awaitable[list[str]]]:
    """`await commit_events(["court:330106"], 200)`: commits that many events (one transaction each by
    default) and returns their event ids."""

    async def commit(
        rooms: list[str], count: int = 1, *, name: str = "assistance:updated", per_transaction: int = 1
    ) -> list[str]:
        ids: list[str] = []
        done = 0
        while done < count:
            async with live_db.unit_of_work() as session:
                for _ in range(min(per_transaction, count - done)):
                    rows = await outbox.record_event(session, name=name, rooms=rooms, payload={"n": done})
                    ids.append(rows[0].event_id)
                    done += 1
        return ids

    return commit


async def connected(client: LiveClient) -> LiveClient:
    await client.connect()
    return client


@pytest.fixture
async def clients() -> AsyncIterator[list[LiveClient]]:
    """A list the test appends its clients to; they are closed afterwards."""
    opened: list[LiveClient] = []
    yield opened
    for client in opened:
        await client.close()


async def all_published(db: Database, *, timeout: float = 30.0) -> None:
    """Waits until the relays have published every committed event."""
    from sqlalchemy import func, select

    from command_center.outbox.models import OutboxEvent

    async with asyncio.timeout(timeout):
        while True:
            async with db.unit_of_work(read_only=True) as session:
                pending = await session.scalar(
                    select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
                )
            if not pending:
                return
            await asyncio.sleep(0.02)


class StallingProxy:
    """A loopback TCP proxy in front of a node that can stop carrying data to its clients, as a frozen
    browser tab or a congested link would: the node's writes then back up into its send queue."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.stalled = asyncio.Event()
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> StallingProxy:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def stall(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import socket

        sock = socket.socket()
        # Small buffers on the node's side of the proxy, so a stall is felt after kilobytes, not megabytes.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.upstream_port))
        up_reader, up_writer = await asyncio.open_connection(sock=sock, limit=4096)
        up_writer.transport.set_write_buffer_limits(high=4096)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, to_client: bool) -> None:
            try:
                while True:
                    if to_client:
                        await self.flowing.wait()
                    data = await src.read(4096)
                    if not data:
                        break
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        tasks = [
            asyncio.create_task(pump(reader, up_writer, to_client=False)),
            asyncio.create_task(pump(up_reader, writer, to_client=True)),
        ]
        self._tasks.update(tasks)
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.difference_update(tasks)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
