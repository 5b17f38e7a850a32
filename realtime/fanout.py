"""Fan-out across app nodes: the Redis client manager, and the outbox relay's publisher.

Every node runs an outbox relay (command_center.outbox.relay). A relay that publishes an event emits
it to the room through `FanoutManager`, which delivers it to this node's clients and publishes it on
the Redis channel, from which every other node delivers it to its own clients. The relay's row claim
(FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock on SQLite) keeps two nodes from publishing a row
at once; after a crash a row may go out twice, and clients drop the second copy by seq.

python-socketio's Redis manager logs and swallows a failed PUBLISH. For outbox events that would mark
an event published that other nodes never saw, so inside `must_reach_every_node()` a failed PUBLISH
raises instead: the relay rolls its batch back and publishes it again later (this node's clients then
get a duplicate, which they drop).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import socketio

from command_center.outbox.relay import OutboxMessage, Publish

CHANNEL = "command-center"
LIVE = "/live"

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


class FanoutManager(socketio.AsyncRedisManager):
    """python-socketio's Redis manager, with PUBLISH failures surfaced inside `must_reach_every_node`."""

    async def _publish(self, data: Any) -> Any:
        last_error: Exception | None = None
        for _attempt in range(2):
            try:
                if not self.connected:
                    self._redis_connect()
                return await self.redis.publish(self.channel, self.json.dumps(data))
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
    """The relay's publish: each committed event to its room on every node, with room, seq and id."""

    async def publish(message: OutboxMessage) -> None:
        with must_reach_every_node():
            await sio.emit(message.name, message.as_payload(), room=message.room, namespace=LIVE)

    return publish
