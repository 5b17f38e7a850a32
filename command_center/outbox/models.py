"""Outbox rows (one per event and room) and the per-room sequence counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from command_center.db import UtcDateTime


class OutboxEvent(SQLModel, table=True):
    """An event for one room, written in the transaction of the change it announces."""

    __tablename__ = "outbox_event"
    __table_args__ = (
        # Replay reads a room's events by seq; the constraint also proves seqs are never handed out twice.
        sa.UniqueConstraint("room", "seq"),
        # The relay scans `published_at IS NULL ORDER BY id`; purge scans `published_at < cutoff`.
        sa.Index("ix_outbox_event_published_at_id", "published_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, index=True))  # shared by rooms
    room: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))  # "court:330106", "request:123"
    seq: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))  # "assistance:routed"
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(UtcDateTime(), nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime(), nullable=True))


class RoomSequence(SQLModel, table=True):
    """The last sequence number handed out in a room; its row lock serializes a room's writers."""

    __tablename__ = "room_sequence"

    room: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    last_seq: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
