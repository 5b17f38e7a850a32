"""The socket.io server of one app node: how it is built, which namespaces it serves, start and stop.

`create_app` calls `build_socketio(settings)` when it builds the app, and `start_realtime` /
`stop_realtime` in its lifespan. A namespace is added by appending its factory (a callable taking
the node's Services and returning an `AsyncNamespace`) to `NAMESPACES`; work that must happen when
the node stops (before its services close) by appending a coroutine function taking the Services to
`ON_STOP`.

Protection per client: engine.io refuses messages above `realtime_max_message_bytes` (the
connection is closed); `LiveNamespace` rate-limits and size-checks each event; and `RealtimeServer`
bounds the send queue. engine.io gives every client an unbounded asyncio.Queue that its writer task
drains into the socket; a client that stops reading (a frozen tab, a dead link that TCP has not
noticed yet) would make it grow without limit. A client whose queue holds `realtime_max_queued_packets`
packets when another is due is dropped instead: its queued packets are discarded (it recovers them by
replay when it resumes), it is told `realtime:dropped` {"reason": "slow_consumer"}, and it is
disconnected. The check is a queue length read per send, so nobody else waits for it.

Packets: the namespaces speak JSON only. A binary packet (or a bare binary attachment) is refused
before python-socketio buffers its attachments, whether or not the client has authenticated, and so
is a packet that cannot be decoded: the client is told why (`realtime:dropped` {"reason", "message"} in
each namespace it joined, or a `connect_error` {"message", "data": {"code"}} when it joined none) and
disconnected, and the refusal is logged as one warning, not a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import engineio
import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from command_center.outbox.relay import OutboxRelay
from realtime.fanout import CHANNEL, LIVE, FanoutManager, outbox_publisher
from realtime.live import LiveNamespace
from realtime.presence import Presence
from realtime.video import close_video, video_namespace

if TYPE_CHECKING:
    from command_center.services import Services
    from command_center.settings import Settings

log = logging.getLogger(__name__)
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SLOW_CONSUMER = "slow_consumer"
BINARY_REFUSED = "binary_not_accepted"
MALFORMED_PACKET = "malformed_packet"
_BINARY_TYPES = (str(sio_packet.BINARY_EVENT), str(sio_packet.BINARY_ACK))
_PACKET_NAMESPACE = re.compile(r"^\d(?:\d+-)?(/[^,]*)")

NamespaceFactory = Callable[["Services"], socketio.AsyncNamespace]

# Every namespace this node serves; add one line per namespace.
NAMESPACES: list[NamespaceFactory] = [
    LiveNamespace,
    video_namespace,
]

# Run first when the node stops, while clients, relay and services still work; one line each.
ON_STOP: list[Callable[[Services], Awaitable[None]]] = [
    close_video,
]


class EngineIOServer(engineio.AsyncServer):
    """engine.io's server, fixed for long-polling clients that send too much.

    engine.io refuses a polling POST above `max_http_buffer_size` by disconnecting the client and
    waiting until it has read its CLOSE, which a polling client does only with its next GET: a client
    that sends none held the POST open for good. Here an oversize POST is answered 413 with the
    reason at once, and disconnecting a polling client never waits for it to read."""

    async def handle_request(self, *args: Any, **kwargs: Any) -> Any:
        scope = args[0] if args else None
        if isinstance(scope, dict) and scope.get("type") == "http" and scope.get("method") == "POST":
            length = dict(scope.get("headers") or ()).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.max_http_buffer_size:
                query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                sid = (query.get("sid") or [None])[0]
                if sid in self.sockets:
                    await self.disconnect(sid)
                await _payload_too_large(args[2], self.max_http_buffer_size)
                return None
        return await super().handle_request(*args, **kwargs)

    async def disconnect(self, sid: str | None = None) -> None:
        socket = self.sockets.get(sid) if sid is not None else None
        if socket is None or socket.upgraded:
            await super().disconnect(sid)
            return
        if not socket.closed:
            await socket.close(wait=False, reason=self.reason.SERVER_DISCONNECT)
        self.sockets.pop(sid, None)


async def _payload_too_large(send: Any, limit: int) -> None:
    body = json.dumps(
        {
            "error": {
                "code": "payload_too_large",
                "message": f"A socket.io message may be at most {limit} bytes; this connection is closed.",
                "details": {"max_message_bytes": limit},
            }
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RealtimeServer(socketio.AsyncServer):
    """python-socketio's server with a bounded send queue per client (see the module docstring)."""

    def __init__(self, *, max_queued_packets: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_queued_packets = max_queued_packets
        self.slow_consumers_dropped = 0
        self._dropping: set[str] = set()
        self._drop_tasks: set[asyncio.Task[None]] = set()
        self._refused: set[str] = set()  # engine.io sessions told to go; their packets are ignored
        self.runtime: Runtime | None = None

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return EngineIOServer

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        if not self._backlogged(eio_sid):
            await super()._send_packet(eio_sid, pkt)

    async def _send_eio_packet(self, eio_sid: str, eio_pkt: Any) -> None:
        if not self._backlogged(eio_sid):
            await super()._send_eio_packet(eio_sid, eio_pkt)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if eio_sid in self._refused:
            return
        if isinstance(data, bytes) or (isinstance(data, str) and data[:1] in _BINARY_TYPES):
            namespace = _PACKET_NAMESPACE.match(data) if isinstance(data, str) else None
            await self._refuse_packet(
                eio_sid,
                namespace.group(1) if namespace else "/",
                BINARY_REFUSED,
                "Binary packets are not accepted; send events as JSON.",
            )
            return
        try:
            self.packet_class(encoded_packet=data)
        except (ValueError, TypeError, IndexError) as exc:  # JSONDecodeError is a ValueError
            namespace = _PACKET_NAMESPACE.match(data) if isinstance(data, str) else None
            await self._refuse_packet(
                eio_sid,
                namespace.group(1) if namespace else "/",
                MALFORMED_PACKET,
                f"The packet could not be read ({type(exc).__name__}).",
            )
            return
        await super()._handle_eio_message(eio_sid, data)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        await super()._handle_eio_disconnect(eio_sid, reason)
        self._refused.discard(eio_sid)

    async def _refuse_packet(self, eio_sid: str, namespace: str, reason: str, message: str) -> None:
        """Tells the client why its packet was refused and disconnects it."""
        socket = self.eio.sockets.get(eio_sid)
        if socket is None or socket.closing or socket.closed:
            return
        joined = [ns for ns in self.manager.get_namespaces() if self.manager.sid_from_eio_sid(eio_sid, ns)]
        if joined:
            notices = [
                self.packet_class(
                    sio_packet.EVENT,
                    namespace=ns,
                    data=["realtime:dropped", {"reason": reason, "message": message}],
                )
                for ns in joined
            ]
        else:
            notices = [
                self.packet_class(
                    sio_packet.CONNECT_ERROR,
                    namespace=namespace,
                    data={"message": message, "data": {"code": reason}},
                )
            ]
        for notice in notices:
            await socket.send(eio_packet.Packet(eio_packet.MESSAGE, notice.encode()))
        log.warning("refused a socket.io packet from %s (%s); disconnecting it", eio_sid, reason)
        if socket.upgraded:
            # The WebSocket writer sends the notices, then engine.io's CLOSE.
            await socket.close(wait=False, abort=False, reason=reason)
            return
        # A polling client fetches the notices and the CLOSE with its next GET, which a closed
        # engine.io socket would refuse: it leaves its namespaces now, anything more it sends is
        # ignored, and its engine.io session is closed once it has read them (or did not in time).
        self._refused.add(eio_sid)
        await super()._handle_eio_disconnect(eio_sid, reason)
        await socket.send(eio_packet.Packet(eio_packet.CLOSE))
        task = asyncio.create_task(self._close_when_read(socket, reason), name=f"refuse-{eio_sid}")
        self._drop_tasks.add(task)
        task.add_done_callback(self._drop_tasks.discard)

    async def _close_when_read(self, socket: Any, reason: str) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.eio.ping_timeout):
                await socket.queue.join()
        await socket.close(wait=False, abort=True, reason=reason)

    def queued_packets(self, eio_sid: str) -> int:
        socket = self.eio.sockets.get(eio_sid)
        return 0 if socket is None else socket.queue.qsize()

    def _backlogged(self, eio_sid: str) -> bool:
        """True when the packet must not be queued: the client is being dropped, or is now."""
        if eio_sid in self._dropping:
            return True
        socket = self.eio.sockets.get(eio_sid)
        if socket is None or socket.closing or socket.queue.qsize() < self.max_queued_packets:
            return False
        self._dropping.add(eio_sid)
        # In a task of its own: the emit that noticed the backlog (the relay's, say) does not wait for
        # the disconnect handlers.
        task = asyncio.create_task(self._drop_slow_consumer(eio_sid, socket), name=f"drop-{eio_sid}")
        self._drop_tasks.add(task)
        task.add_done_callback(self._drop_tasks.discard)
        return True

    async def _drop_slow_consumer(self, eio_sid: str, socket: Any) -> None:
        try:
            discarded = 0
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    socket.queue.get_nowait()
                    socket.queue.task_done()
                    discarded += 1
            for namespace in list(self.manager.get_namespaces()):
                if self.manager.sid_from_eio_sid(eio_sid, namespace) is None:
                    continue
                notice = self.packet_class(
                    sio_packet.EVENT,
                    namespace=namespace,
                    data=["realtime:dropped", {"reason": SLOW_CONSUMER}],
                )
                socket.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, notice.encode()))
            # Runs the disconnect handlers (reason "slow_consumer") and queues engine.io's CLOSE;
            # the None after it ends the writer task once the client reads that far, or when the
            # transport gives up on it.
            await socket.close(wait=False, abort=False, reason=SLOW_CONSUMER)
            socket.queue.put_nowait(None)
            self.eio.sockets.pop(eio_sid, None)
            self.slow_consumers_dropped += 1
            log.warning("dropped a slow consumer (%s): %d queued packets discarded", eio_sid, discarded)
        except Exception:
            log.exception("dropping slow consumer %s failed", eio_sid)
        finally:
            self._dropping.discard(eio_sid)


def origin_policy(settings: Settings) -> Callable[[str | None, dict[str, Any]], bool]:
    """Which browser origins may open a socket: the app's own address (public_url, or the Host the
    browser asked for), and settings.allowed_origins. Clients without an Origin header (court systems)
    are not browsers and are not checked. A page on any other site is refused, so it cannot ride on a
    signed-in user's cookie."""
    allowed = {_origin(url) for url in [settings.public_url, *settings.allowed_origins] if url}
    allow_all = "*" in settings.allowed_origins

    def check(origin: str | None, environ: dict[str, Any]) -> bool:
        if not origin:
            return False
        if allow_all or origin in allowed:
            return True
        return urlsplit(origin).netloc.lower() == environ.get("HTTP_HOST", "").lower()

    return check


def _origin(url: str) -> str:
    if url == "*":
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def build_socketio(settings: Settings) -> RealtimeServer:
    """The node's socket.io server, fanning out through Redis to every other node."""
    return RealtimeServer(
        async_mode="asgi",
        client_manager=FanoutManager(settings.redis_url or DEFAULT_REDIS_URL, channel=CHANNEL),
        cors_allowed_origins=origin_policy(settings),
        max_http_buffer_size=settings.realtime_max_message_bytes,
        max_queued_packets=settings.realtime_max_queued_packets,
        logger=False,
        engineio_logger=False,
    )


def register_namespaces(sio: socketio.AsyncServer, services: Services) -> None:
    """Registers one instance of every namespace in NAMESPACES, built with this node's services."""
    for factory in NAMESPACES:
        sio.register_namespace(factory(services))


@dataclass
class Runtime:
    """The background work of one node's real-time layer, owned by `start_realtime`/`stop_realtime`."""

    presence: Presence
    relay: OutboxRelay
    relay_stop: asyncio.Event
    relay_task: asyncio.Task[None]


async def _listen(sio: socketio.AsyncServer, *, timeout: float = 10.0) -> None:
    """Starts the Redis listener now (python-socketio would on the first connect) and waits until it
    is subscribed, so no event published after startup is missed by this node's clients."""
    if not sio.manager_initialized:
        sio.manager_initialized = True
        sio.manager.initialize()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (getattr(sio.manager, "pubsub", None) is not None and sio.manager.pubsub.subscribed):
        if loop.time() > deadline:
            log.warning("the socket.io Redis listener is not subscribed yet; continuing")
            return
        await asyncio.sleep(0.01)


async def start_realtime(sio: RealtimeServer, services: Services) -> None:
    """Registers the namespaces, subscribes to the fan-out channel, starts presence and the outbox relay."""
    settings = services.settings

    async def announce(room: str, change: str, user: dict[str, Any]) -> None:
        await sio.emit(
            "presence:changed", {"room": room, "change": change, "user": user}, room=room, namespace=LIVE
        )

    presence = Presence(services.redis, announce, ttl_seconds=settings.realtime_presence_ttl_seconds)
    services.extras["presence"] = presence
    register_namespaces(sio, services)
    await _listen(sio)
    await presence.start()
    relay = OutboxRelay(services.db, outbox_publisher(sio), poll_seconds=settings.outbox_poll_seconds)
    services.extras["relay"] = relay
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run_forever(stop), name="outbox-relay")
    sio.runtime = Runtime(presence=presence, relay=relay, relay_stop=stop, relay_task=task)


async def stop_realtime(sio: RealtimeServer, services: Services) -> None:
    """Runs the ON_STOP hooks, stops the relay and presence (removing this node's entries) and closes
    the fan-out connections."""
    for hook in ON_STOP:
        try:
            await hook(services)
        except Exception:
            log.exception("stopping %s failed", getattr(hook, "__qualname__", hook))
    runtime, sio.runtime = sio.runtime, None
    if runtime is not None:
        runtime.relay_stop.set()
        await runtime.relay_task
        await runtime.presence.stop()
    await sio.shutdown()
    if isinstance(sio.manager, FanoutManager):
        await sio.manager.close()
