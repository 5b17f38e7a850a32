"""Emitting to `/live` clients from outside an app node (worker jobs): through Redis, write-only.

For ephemeral news only: a campaign dispatch's progress, a report being generated. Such events have no
seq and are not replayed; anything a client must not miss is an outbox event, written in the job's
unit of work and published by a relay. The body is `{"room", "data"}`, masked like outbox payloads.

    emitter = Emitter(settings.redis_url)
    await emitter.emit("campaign:progressed", room="campaign:7", data={"done": 120, "total": 500})
    await emitter.close()
"""

from __future__ import annotations

import json
from typing import Any

import socketio

from command_center.masking import jsonable, mask_data
from command_center.outbox.service import EVENT_NAME
from realtime.fanout import CHANNEL, LIVE
from realtime.rooms import parse_room

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
MAX_EVENT_BYTES = 16 * 1024


class Emitter:
    """A write-only socket.io client manager: publishes on the channel every app node listens to."""

    def __init__(self, redis_url: str | None, *, channel: str = CHANNEL) -> None:
        self.manager = socketio.AsyncRedisManager(
            redis_url or DEFAULT_REDIS_URL, channel=channel, write_only=True
        )

    async def emit(self, name: str, *, room: str, data: dict[str, Any]) -> None:
        """Sends `name` with `{"room", "data"}` (masked) to every client in `room`, on every node."""
        if not EVENT_NAME.match(name):
            raise ValueError(f"event name {name!r} is not '<domain>:<past_tense>'")
        if parse_room(room) is None:
            raise ValueError(f"invalid room name {room!r}")
        body = {"room": room, "data": mask_data(jsonable(data))}
        if len(json.dumps(body, ensure_ascii=False).encode()) > MAX_EVENT_BYTES:
            raise ValueError(f"an emitted event may carry at most {MAX_EVENT_BYTES} bytes")
        await self.manager.emit(name, body, namespace=LIVE, room=room)

    async def close(self) -> None:
        """Closes the Redis connection."""
        redis = getattr(self.manager, "redis", None)
        if redis is not None:
            await redis.aclose()
