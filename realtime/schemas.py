"""The bodies of the client events on `/live`, validated before a handler runs (unknown keys refused)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_ROOM_NAME = 100
MAX_RESUME_ROOMS = 200


class ClientEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class JoinBody(ClientEvent):
    room: str = Field(max_length=MAX_ROOM_NAME)
    last_seq: int | None = Field(None, ge=0, description="the last seq seen in the room; replays after it")


class LeaveBody(ClientEvent):
    room: str = Field(max_length=MAX_ROOM_NAME)


class ResumeBody(ClientEvent):
    rooms: dict[str, int | None] = Field(
        default_factory=dict,
        max_length=MAX_RESUME_ROOMS,
        description="room -> last seq seen (null: join without replay)",
    )


class TypingBody(ClientEvent):
    request_id: int = Field(ge=1)


class ReadBody(ClientEvent):
    request_id: int = Field(ge=1)
    last_message_id: int = Field(ge=1)


class PresenceBody(ClientEvent):
    room: str = Field(max_length=MAX_ROOM_NAME)


class PingBody(ClientEvent):
    pass
