"""A Python `/live` client that follows the client protocol in realtime.live: per-room seq tracking,
gap filling, resume after reconnect (to any of several node addresses), resync.

Court systems can use it to follow their court's events; the tests and benchmarks use it as the
reference client. The browser client implements the same protocol.

    client = LiveClient(["http://hub-a:8000", "http://hub-b:8000"], token="cct_...", on_event=handle)
    await client.connect()
    await client.join("request:42")
    ...
    await client.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import socketio

from command_center.outbox.service import SeqTracker

log = logging.getLogger(__name__)
LIVE = "/live"
SESSION_COOKIE = "cc_session"
MAX_HELD_PER_ROOM = 10_000
SEEN_EVENT_IDS = 10_000


@dataclass(frozen=True, slots=True)
class Delivered:
    """A durable event as applied by the client, in its room's seq order."""

    room: str
    seq: int
    name: str
    event_id: str
    data: Any


EventHandler = Callable[[str, dict[str, Any]], Awaitable[None] | None]


class ClientRefused(ConnectionError):
    """The server refused the connection (bad or missing credentials); `details` holds its answer."""

    def __init__(self, details: Any) -> None:
        super().__init__(f"connection refused: {details}")
        self.details = details


class LiveClient:
    """One `/live` connection that survives disconnects without losing or repeating durable events.

    `on_event(name, body)` is called once per durable event (once per event_id, even when the event
    reaches several of the client's rooms), in seq order within each room; `on_ephemeral(name, body)`
    for events without a seq; `on_resync(room, head)` when a view must be reloaded.
    """

    def __init__(
        self,
        urls: str | Iterable[str],
        *,
        token: str | None = None,
        cookie: str | None = None,
        headers: dict[str, str] | None = None,
        transports: Iterable[str] = ("websocket",),
        on_event: EventHandler | None = None,
        on_ephemeral: EventHandler | None = None,
        on_resync: Callable[[str, int], Awaitable[None] | None] | None = None,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.05, 2.0),
        ack_timeout: float = 15.0,
        keep_log: bool = True,
    ) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        self.token = token
        self.headers = dict(headers or {})
        self.cookie = cookie
        self.transports = list(transports)
        self.on_event, self.on_ephemeral, self.on_resync = on_event, on_ephemeral, on_resync
        self.reconnect, self.backoff, self.ack_timeout, self.keep_log = (
            reconnect,
            backoff,
            ack_timeout,
            keep_log,
        )

        self.tracker = SeqTracker()
        self.seeded: set[str] = set()  # rooms whose last seq is known
        self.followed: set[str] = set()  # rooms to resume after a reconnect
        self.held: dict[str, dict[int, tuple[str, dict[str, Any]]]] = defaultdict(dict)
        self.resuming: set[str] = set()  # rooms with a replay in flight: gaps there are expected
        self.log: dict[str, list[Delivered]] = defaultdict(list)
        self.ephemeral: list[tuple[str, Any]] = []
        self.resyncs: list[tuple[str, int]] = []
        self.duplicates = 0
        self.connections = 0
        self.resume_acks: list[dict[str, Any]] = []  # the answer to each connection's resume
        self.disconnect_reasons: list[str] = []
        self.refusal: Any = None
        self.url: str | None = None

        self._seen: OrderedDict[str, None] = OrderedDict()
        self._sio: socketio.AsyncClient | None = None
        self._closing = False
        self._url_index = 0
        self._reconnect_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connected = asyncio.Event()  # set once a connection's resume is acknowledged
        self._lost = asyncio.Event()  # set when the current connection ends

    # --- connection ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._sio is not None and self._sio.connected and self._connected.is_set()

    async def connect(self) -> dict[str, Any]:
        """Connects to the first node that answers and resumes every followed room; returns the ack."""
        last_error: Exception | None = None
        for attempt in range(len(self.urls)):
            index = (self._url_index + attempt) % len(self.urls)
            try:
                return await self._open(index)
            except ClientRefused:
                raise
            except (socketio.exceptions.SocketIOError, ConnectionError, OSError, TimeoutError) as exc:
                last_error = exc
        raise ConnectionError(f"no node answered: {last_error}") from last_error

    async def _open(self, index: int) -> dict[str, Any]:
        headers = dict(self.headers)
        options: dict[str, Any] = {}
        if self.cookie:
            # engine.io moves a Cookie header into aiohttp's cookie jar, which ignores cookies of IP
            # addresses (127.0.0.1); the WebSocket handshake gets it as a plain header instead.
            headers["Cookie"] = f"{SESSION_COOKIE}={self.cookie}"
            options["websocket_extra_options"] = {"headers": {"Cookie": headers["Cookie"]}}
        sio = socketio.AsyncClient(reconnection=False, **options)
        sio.on("*", self._on_any, namespace=LIVE)
        sio.on("disconnect", self._on_disconnect, namespace=LIVE)
        refusal: list[Any] = []
        sio.on("connect_error", refusal.append, namespace=LIVE)
        # Until the resume is acknowledged, gaps are expected (the replay is on its way).
        self.resuming |= self.followed
        try:
            await sio.connect(
                self.urls[index],
                headers=headers,
                auth={"token": self.token} if self.token else None,
                transports=self.transports,
                namespaces=[LIVE],
                wait_timeout=self.ack_timeout,
            )
        except socketio.exceptions.ConnectionError:
            self.resuming -= self.followed
            with contextlib.suppress(Exception):
                await sio.disconnect()
            # A refusal by the server carries {"message", "data"}; a transport failure only a string.
            answers = [answer for answer in refusal if isinstance(answer, dict)]
            if answers:
                self.refusal = answers[0]
                raise ClientRefused(answers[0]) from None
            raise
        self._sio, self._url_index, self.url = sio, index, self.urls[index]
        self._lost = asyncio.Event()
        rooms = {
            room: (self.tracker.last_seq(room) if room in self.seeded else None) for room in self.followed
        }
        try:
            ack = await self.call("resume", {"rooms": rooms})
        finally:
            self.resuming -= set(rooms)
        self.connections += 1
        self.resume_acks.append(ack)
        self._connected.set()
        if ack.get("ok"):
            self._apply_heads(ack["rooms"])
        return ack

    async def close(self) -> None:
        """Disconnects for good (no reconnect)."""
        self._closing = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect_task
        if self._sio is not None:
            with contextlib.suppress(Exception):
                await self._sio.disconnect()
        for task in list(self._tasks):
            task.cancel()

    async def drop_connection(self) -> None:
        """Disconnects as a failing network would: the client then reconnects and resumes."""
        if self._sio is not None:
            await self._sio.disconnect()

    def _on_disconnect(self, reason: Any = None) -> None:
        self._connected.clear()
        self._lost.set()
        self.disconnect_reasons.append(str(reason))
        if self._closing or not self.reconnect or self._reconnect_task is not None:
            return
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        delay = self.backoff[0]
        try:
            while not self._closing:
                await asyncio.sleep(delay * (0.5 + random.random()))
                try:
                    await self.connect()
                    return
                except ClientRefused:
                    log.warning("live client refused on reconnect: %s", self.refusal)
                    return
                except Exception as exc:  # noqa: BLE001 - any failure means: try again later
                    log.info("live client reconnect failed: %s", exc)
                    self._url_index += 1  # this node may be gone: start with the next one
                    delay = min(delay * 2, self.backoff[1])
        finally:
            self._reconnect_task = None

    # --- client events ------------------------------------------------------------------------

    async def call(self, event: str, data: Any = None, *, timeout: float | None = None) -> dict[str, Any]:
        """Sends a client event and returns its acknowledgement."""
        if self._sio is None or self._lost.is_set():
            raise ConnectionError("not connected")
        # python-socketio waits out the whole timeout when the connection drops before the ack.
        lost = asyncio.ensure_future(self._lost.wait())
        call = asyncio.ensure_future(
            self._sio.call(event, data, namespace=LIVE, timeout=timeout or self.ack_timeout)
        )
        try:
            await asyncio.wait([call, lost], return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not call.done():
            call.cancel()
            raise ConnectionError(f"the connection ended before {event!r} was acknowledged")
        return call.result()

    async def join(self, room: str, *, last_seq: int | None = None) -> dict[str, Any]:
        """Joins a room (replaying after `last_seq` if given) and follows it from then on."""
        if last_seq is not None:
            self.tracker.seed(room, last_seq)
            self.seeded.add(room)
            self.resuming.add(room)
        try:
            ack = await self.call(
                "join", {"room": room} if last_seq is None else {"room": room, "last_seq": last_seq}
            )
        finally:
            self.resuming.discard(room)
        if ack.get("ok"):
            self._apply_heads({room: ack})
        return ack

    async def leave(self, room: str) -> dict[str, Any]:
        """Leaves a room and stops following it."""
        self.followed.discard(room)
        return await self.call("leave", {"room": room})

    # --- incoming events ----------------------------------------------------------------------

    def _on_any(self, event: str, data: Any = None) -> None:
        # Synchronous on purpose: python-socketio runs each message in its own task, and a handler that
        # never awaits keeps the order in which the messages arrived.
        if isinstance(data, dict) and isinstance(data.get("seq"), int) and isinstance(data.get("room"), str):
            self._on_durable(event, data)
        elif event == "resync" and isinstance(data, dict):
            self._resync(data["room"], data["head"])
        else:
            if self.keep_log:
                self.ephemeral.append((event, data))
            if self.on_ephemeral is not None:
                self._spawn(self.on_ephemeral(event, data))

    def _on_durable(self, name: str, body: dict[str, Any]) -> None:
        room, seq = body["room"], body["seq"]
        if room in self.seeded and seq <= self.tracker.last_seq(room):
            self.duplicates += 1
            return
        held = self.held[room]
        if len(held) < MAX_HELD_PER_ROOM:
            held[seq] = (name, body)
        if room in self.seeded:
            self._drain(room)
            self._fill_gap(room)

    def _drain(self, room: str) -> None:
        """Applies the held events of `room` that follow its last seq without a gap."""
        held = self.held[room]
        last = self.tracker.last_seq(room)
        for seq in [s for s in held if s <= last]:
            del held[seq]
            self.duplicates += 1
        while last + 1 in held:
            name, body = held.pop(last + 1)
            self.tracker.accept(room, last + 1)
            last += 1
            self._deliver(room, name, body)

    def _deliver(self, room: str, name: str, body: dict[str, Any]) -> None:
        event_id = body.get("event_id", "")
        if self.keep_log:
            self.log[room].append(Delivered(room, body["seq"], name, event_id, body.get("data")))
        if event_id in self._seen:
            return  # the same event in another of the client's rooms
        self._seen[event_id] = None
        if len(self._seen) > SEEN_EVENT_IDS:
            self._seen.popitem(last=False)
        if self.on_event is not None:
            self._spawn(self.on_event(name, body))

    def _fill_gap(self, room: str) -> None:
        """Asks for a replay when `room` has held events after a gap and no replay is in flight."""
        if not self.held[room] or room in self.resuming or not self.connected:
            return
        self.resuming.add(room)
        self._spawn(self._resume_room(room))

    async def _resume_room(self, room: str) -> None:
        try:
            ack = await self.call("resume", {"rooms": {room: self.tracker.last_seq(room)}})
        except Exception as exc:  # noqa: BLE001 - a reconnect resumes every room anyway
            log.info("gap replay for %s failed: %s", room, exc)
            return
        finally:
            self.resuming.discard(room)
        if ack.get("ok"):
            self._apply_heads(ack["rooms"])

    def _apply_heads(self, rooms: dict[str, dict[str, Any]]) -> None:
        """Seeds rooms seen for the first time at their head and re-checks every room for gaps."""
        for room, info in rooms.items():
            self.followed.add(room)
            if info.get("resync"):
                continue  # the `resync` event that preceded the ack did the work
            if room not in self.seeded:
                self.tracker.seed(room, info["seq"])
                self.seeded.add(room)
            self._drain(room)
            self._fill_gap(room)

    def _resync(self, room: str, head: int) -> None:
        snapshot = self.tracker.snapshot()
        snapshot[room] = head
        self.tracker = SeqTracker(snapshot)
        self.seeded.add(room)
        self.followed.add(room)
        self.resyncs.append((room, head))
        self._drain(room)
        if self.on_resync is not None:
            self._spawn(self.on_resync(room, head))

    def _spawn(self, result: Any) -> None:
        if asyncio.iscoroutine(result):
            task = asyncio.get_running_loop().create_task(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # --- for tests and tools ------------------------------------------------------------------

    def seqs(self, room: str) -> list[int]:
        """The seqs applied in `room`, in the order they were applied."""
        return [event.seq for event in self.log[room]]

    async def wait_for(self, condition: Callable[[], bool], *, timeout: float = 30.0) -> None:
        """Waits until `condition()` holds; raises TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)
