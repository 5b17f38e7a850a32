"""Fan-out across app nodes: the Redis client manager, and the outbox relay's publisher.

Every node runs an outbox relay (command_center.outbox.relay). The relay hands each claimed batch to
`outbox_publisher`, which gives it to `FanoutManager.emit_batch`: every event is delivered to this
node's clients in its room, then the whole batch goes to the other nodes as one Redis message (or a
few, each under MAX_PUBLISH_BYTES), from which every node delivers each event to its own clients in
its room, in batch order. What a client receives is unchanged: one socket.io event per room, named
after the outbox event, with room, seq, event_id and data. The relay's row claim (FOR UPDATE SKIP
LOCKED on PostgreSQL; on SQLite, a one-machine deployment, the relays of the process take turns)
keeps two relays from publishing a row at once; after a crash a row may go out twice, and clients
drop the second copy by seq.

python-socketio's Redis manager logs and swallows a failed PUBLISH. For outbox events that would mark
an event published that other nodes never saw, so inside `must_reach_every_node()` (which the relay's
publisher always uses) a failed PUBLISH raises instead: the relay leaves its batch unmarked and
publishes it again later (this node's clients then get a duplicate, which they drop).

A batch travels as an ordinary socket.io pub/sub "emit" message, so it relies on these internals of
python-socketio's AsyncPubSubManager (5.x; tests/realtime/test_fanout_internals.py checks them): the
listener task `_thread` takes each Redis message from `_listen()` (raw bytes, as AsyncRedisManager
yields them), decodes it with `self.json.loads` and, when its `host_id` is another node's and its `method` is "emit", calls `_handle_emit(message)`; `emit` calls `_handle_emit`
for this node and `_publish(data)` for the others, and `emit(..., ignore_queue=True)` sends to this
node's clients only; `self.rooms[namespace]` maps each room with participants on this node to them
(an emptied room is removed). The batch is addressed to BATCH_ROOM, which no client can enter:
a node that does not know batches emits it to nobody.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

import socketio

from command_center.outbox.relay import OutboxMessage, Publish, json_string

CHANNEL = "command-center"
LIVE = "/live"
BATCH_EVENT = "outbox:batch"
BATCH_ROOM = "#outbox-batch"  # not a room name (realtime.rooms.parse_room): no client is ever in it
MAX_PUBLISH_BYTES = 512 * 1024  # per Redis message; one larger event still goes, alone

_strict: ContextVar[bool] = ContextVar("fanout_strict", default=False)


class FanoutUnavailable(ConnectionError):
    """The Redis channel refused an event that every node must see."""


@contextlib.contextmanager
def must_reach_every_node() -> Iterator[None]:
    """Within the block, an emit whose Redis PUBLISH fails raises FanoutUnavailable."""
    token = _strict.set(True)
    try:
        yield
    finally:
        _strict.reset(token)


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class FanoutManager(socketio.AsyncRedisManager):
    """python-socketio's Redis manager, with batches of outbox events and PUBLISH failures surfaced
    inside `must_reach_every_node`."""

    max_publish_bytes = MAX_PUBLISH_BYTES

    async def emit_batch(self, events: Sequence[OutboxMessage], *, namespace: str = LIVE) -> None:
        """Emits each event to its room on every node, in order: to this node's clients first, then to
        the other nodes in as few Redis messages as fit under `max_publish_bytes` (inside
        `must_reach_every_node`, a message Redis does not take raises FanoutUnavailable). A payload is
        decoded only for a room with clients on this node; to Redis it goes as the stored text."""
        for event in events:
            if self._has_local_participants(namespace, event.room):
                await self._deliver(namespace, event.name, event.room, event.as_payload())
        for message in self._batch_messages(namespace, events):
            await self._publish_bytes(message)

    def _batch_messages(self, namespace: str, events: Sequence[OutboxMessage]) -> Iterator[bytes]:
        """The Redis messages carrying `events` (each as [name, room, body]), cut between events so that
        each message stays under `max_publish_bytes`."""
        envelope = {
            "method": "emit",
            "event": BATCH_EVENT,
            "binary": False,
            "namespace": namespace,
            "room": BATCH_ROOM,
            "skip_sid": None,
            "callback": None,
        }
        # {"host_id": ..., ...envelope, "data": [[event, event, ...]]}: one emit whose argument is the
        # batch; starting with `_own_prefix` so that this node's listener can skip it undecoded.
        head = self._own_prefix + _encode(envelope)[1:-1] + b',"data":[['
        tail = b"]]}"
        chunk: list[bytes] = []
        size = len(head) + len(tail)
        for event in events:
            encoded = (
                f"[{json_string(event.name)},{json_string(event.room)},{event.as_payload_json()}]".encode()
            )
            if chunk and size + len(encoded) + 1 > self.max_publish_bytes:
                yield head + b",".join(chunk) + tail
                chunk, size = [], len(head) + len(tail)
            chunk.append(encoded)
            size += len(encoded) + 1
        if chunk:
            yield head + b",".join(chunk) + tail

    @property
    def _own_prefix(self) -> bytes:
        return b'{"host_id":' + _encode(self.host_id) + b","

    async def _listen(self) -> AsyncIterator[Any]:
        # This node delivered its own batches before publishing them: skip them before they are decoded
        # (python-socketio would decode a message and then drop it for its host_id).
        own = self._own_prefix
        async for message in super()._listen():
            if not (isinstance(message, bytes) and message.startswith(own)):
                yield message

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        # Called for this node's own emits and, by the listener, for other nodes' messages.
        if message.get("event") == BATCH_EVENT and message.get("room") == BATCH_ROOM:
            namespace = message.get("namespace") or "/"
            [events] = message["data"]
            for name, room, body in events:
                await self._deliver(namespace, name, room, body)
            return
        room = message.get("room")
        if isinstance(room, str) and not self._has_local_participants(message.get("namespace") or "/", room):
            return  # nobody to send it to here: skip encoding the packet
        await super()._handle_emit(message)

    async def _deliver(self, namespace: str, name: str, room: str, body: dict[str, Any]) -> None:
        """Sends one event to this node's clients in `room` (nothing to do, and nothing encoded, when
        none of them is in it)."""
        if self._has_local_participants(namespace, room):
            await self.emit(name, body, namespace=namespace, room=room, ignore_queue=True)

    def _has_local_participants(self, namespace: str, room: str) -> bool:
        rooms = self.rooms.get(namespace)
        return rooms is not None and room in rooms

    async def _publish(self, data: Any) -> Any:
        return await self._publish_bytes(self.json.dumps(data))

    async def _publish_bytes(self, message: str | bytes) -> Any:
        """PUBLISHes an encoded message (one reconnect and retry); see `must_reach_every_node`."""
        last_error: Exception | None = None
        for _attempt in range(2):
            try:
                if not self.connected:
                    self._redis_connect()
                return await self.redis.publish(self.channel, message)
            except Exception as exc:  # noqa: BLE001 - redis-py raises several unrelated types for a lost server
                last_error = exc
                self.connected = False
        if _strict.get():
            raise FanoutUnavailable(f"cannot publish on the Redis channel {self.channel!r}") from last_error
        self._get_logger().error("cannot publish on the Redis channel %r: %s", self.channel, last_error)
        return None

    async def close(self) -> None:
        """Stops listening and closes the Redis connections (a node shutting down)."""
        thread = getattr(self, "thread", None)
        if thread is not None:
            thread.cancel()
            with contextlib.suppress(BaseException):
                await thread
            self.thread = None
        if self.pubsub is not None:
            with contextlib.suppress(Exception):
                await self.pubsub.aclose()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()
        self.connected = False


def outbox_publisher(sio: socketio.AsyncServer) -> Publish:
    """The relay's publish: each batch of committed events to their rooms on every node (room, seq, id)."""
    manager = sio.manager
    if not isinstance(manager, FanoutManager):
        raise TypeError("the outbox publisher needs the socket.io server's FanoutManager")

    async def publish(messages: Sequence[OutboxMessage]) -> None:
        with must_reach_every_node():
            await manager.emit_batch(messages, namespace=LIVE)

    return publish
