"""Writing events into the outbox, numbering them per room, replaying a room, and consumer-side dedupe.

An event is one row per room, inserted in the transaction of the state change it announces: if that
transaction rolls back, the event never existed. Each room numbers its events 1, 2, 3, ... through
`room_sequence`; a client that reconnects asks for the events after the last number it saw.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import delete, select
from sqlalchemy import insert as sa_insert
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.db import utcnow
from command_center.masking import jsonable, mask_data
from command_center.outbox.models import OutboxEvent, RoomSequence

_SEQ = RoomSequence.__table__
_EVENT = OutboxEvent.__table__


class _EncodedJson(sa.types.TypeDecorator[str]):
    """The payload column bound from text already encoded as JSON (`encode_payload`): sent as it is,
    still typed JSON for the database."""

    impl = sa.JSON
    cache_ok = True

    def bind_processor(self, dialect: sa.Dialect) -> None:
        return None


# Rows whose payload is already JSON text, written as is.
_INSERT_ENCODED = sa_insert(_EVENT).values(
    payload=sa.type_coerce(sa.bindparam("payload_json"), _EncodedJson())
)
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")  # "<domain>:<past_tense>"
MAX_ROOM_LENGTH = 100


@functools.cache
def _allocate_statement(dialect: str) -> Any:
    """The counters' upsert for `dialect`, built once: one multi-row statement for all rooms, whose rows
    come back in no particular order and are matched by room. The caller lists the rooms sorted, and
    PostgreSQL upserts (and locks) the VALUES rows in that order, so two writers naming the same rooms
    cannot deadlock; SQLite serializes writers anyway. (Asking SQLAlchemy for the rows in parameter
    order would make it send one statement per room: the table has no integer key to sort them by.)"""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(_SEQ)
    return stmt.on_conflict_do_update(
        index_elements=[_SEQ.c.room], set_={"last_seq": _SEQ.c.last_seq + stmt.excluded.last_seq}
    ).returning(_SEQ.c.room, _SEQ.c.last_seq)


async def _allocate(session: AsyncSession, counts: dict[str, int]) -> dict[str, int]:
    """Takes `counts[room]` consecutive sequence numbers in each room; returns the last one taken.

    One upsert for all rooms: a room's first event inserts its counter, later ones increase it.
    On PostgreSQL the counter row stays locked until the caller commits, so a room's writers queue
    and commit their events in seq order; a rollback returns the numbers. Rooms are locked in sorted
    order so two writers naming the same rooms cannot deadlock. On SQLite the write transaction
    (BEGIN IMMEDIATE) serializes writers already.
    """
    stmt = _allocate_statement(session.get_bind().dialect.name)
    rows = [{"room": room, "last_seq": counts[room]} for room in sorted(counts)]
    return {row.room: row.last_seq for row in (await session.execute(stmt, rows)).all()}


def _checked_rooms(name: str, rooms: Iterable[str]) -> list[str]:
    if not EVENT_NAME.match(name):
        raise ValueError(f"event name {name!r} is not '<domain>:<past_tense>'")
    unique_rooms = sorted(set(rooms))
    for room in unique_rooms:
        if not room or len(room) > MAX_ROOM_LENGTH:
            raise ValueError(f"invalid room name {room!r}")
    return unique_rooms


async def record_event(
    session: AsyncSession, *, name: str, rooms: Iterable[str], payload: dict[str, Any]
) -> list[OutboxEvent]:
    """Writes the event once per room (payload masked) in the caller's transaction; nothing is sent
    unless that transaction commits. Returns the rows in room order."""
    unique_rooms = _checked_rooms(name, rooms)
    if not unique_rooms:
        return []
    seqs = await _allocate(session, dict.fromkeys(unique_rooms, 1))
    body = mask_data(jsonable(payload))
    event_id, now = uuid.uuid4().hex, utcnow()
    rows = [
        OutboxEvent(event_id=event_id, room=room, seq=seqs[room], name=name, payload=body, created_at=now)
        for room in unique_rooms
    ]
    session.add_all(rows)
    await session.flush()
    return rows


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event for `record_events`: its name, the rooms that hear of it, and its payload."""

    name: str
    rooms: Iterable[str]
    payload: dict[str, Any]


async def record_events(session: AsyncSession, events: Sequence[NewEvent]) -> list[dict[str, int]]:
    """Writes several events once per room each (payloads masked) in the caller's transaction, with
    one upsert numbering them all and one insert writing every row; returns each event's seq per room.

    Within every room the events are numbered in the order given, and their rows are inserted in that
    order too, so row ids (the relay's publishing order) follow the seqs.
    """
    planned = [(event, _checked_rooms(event.name, event.rooms)) for event in events]
    counts: dict[str, int] = {}
    for _, rooms in planned:
        for room in rooms:
            counts[room] = counts.get(room, 0) + 1
    if not counts:
        return [{} for _ in planned]
    last = await _allocate(session, counts)
    # The numbers taken in a room are last - count + 1 .. last; hand them out in event order.
    next_seq = {room: last[room] - count + 1 for room, count in counts.items()}
    now = utcnow()
    rows: list[dict[str, Any]] = []
    numbered: list[dict[str, int]] = []
    for event, rooms in planned:
        body = encode_payload(event.payload)  # once per event, whatever the number of rooms
        event_id = uuid.uuid4().hex
        seqs: dict[str, int] = {}
        for room in rooms:
            seqs[room] = next_seq[room]
            next_seq[room] += 1
            rows.append(
                {
                    "event_id": event_id,
                    "room": room,
                    "seq": seqs[room],
                    "name": event.name,
                    "payload_json": body,
                    "created_at": now,
                }
            )
        numbered.append(seqs)
    await session.execute(_INSERT_ENCODED, rows)
    return numbered


def encode_payload(payload: dict[str, Any]) -> str:
    """An event's payload as stored: masked, then JSON text."""
    return json.dumps(mask_data(jsonable(payload)), ensure_ascii=False, separators=(",", ":"))


def outbox_payload_text() -> Any:
    """The payload column read as the JSON text stored (labelled `payload`), for a reader that passes
    it on without decoding it."""
    return sa.cast(_EVENT.c.payload, sa.Text).label("payload")


async def replay(session: AsyncSession, *, room: str, after_seq: int, limit: int = 1000) -> list[OutboxEvent]:
    """A room's committed events numbered after `after_seq`, in order (published or not).

    If the first returned seq is not `after_seq + 1`, older events were purged and the client must
    reload its view instead of patching it.
    """
    stmt = (
        select(OutboxEvent)
        .where(OutboxEvent.room == room, OutboxEvent.seq > after_seq)
        .order_by(OutboxEvent.seq)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars().all())


async def room_head(session: AsyncSession, *, room: str) -> int:
    """The last sequence number committed in a room; 0 before its first event."""
    value = await session.scalar(select(_SEQ.c.last_seq).where(_SEQ.c.room == room))
    return value or 0


async def purge(session: AsyncSession, *, older_than: datetime) -> int:
    """Deletes events published before `older_than`; unpublished ones and room counters stay."""
    result = await session.execute(
        delete(_EVENT).where(_EVENT.c.published_at < older_than).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


class SeqTracker:
    """A consumer's memory of the last seq it handled per room, to drop the relay's re-deliveries.

    The relay publishes at least once, and two app nodes may publish a room's events slightly out of
    order; `accept` says whether an event is new, and `missing` names the numbers skipped over, which
    the consumer fills by `replay`.
    """

    def __init__(self, last_seen: dict[str, int] | None = None) -> None:
        self._last: dict[str, int] = dict(last_seen or {})

    def accept(self, room: str, seq: int) -> bool:
        """True (and remembered) when `seq` is past the last one handled in `room`; False for a duplicate."""
        if seq <= self._last.get(room, 0):
            return False
        self._last[room] = seq
        return True

    def missing(self, room: str, seq: int) -> range:
        """The numbers between the last one handled in `room` and `seq` (empty for an unseen room)."""
        if room not in self._last:
            return range(0)
        return range(self._last[room] + 1, seq)

    def last_seq(self, room: str) -> int:
        return self._last.get(room, 0)

    def seed(self, room: str, seq: int) -> None:
        """Starts `room` at `seq` (e.g. its head when the consumer joined); never moves backwards."""
        self._last[room] = max(seq, self._last.get(room, 0))

    def snapshot(self) -> dict[str, int]:
        """The last seq per room, as a reconnecting client sends it."""
        return dict(self._last)
