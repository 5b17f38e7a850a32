"""Serving a (re)joining client the events of a room it missed, from the outbox, in seq order.

The events go to that one client only, before its join or resume is acknowledged. Live events of the
room may reach it meanwhile (it is already in the room), so a client sees some events twice or out of
order and sorts them by seq (see realtime.live for the client protocol). When the events after the
client's last seq are no longer all in the outbox (purged after the retention window), or there are
more than the replay limit, the client is told to `resync`: reload its view over HTTP and continue
from the room's head.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from command_center.db import Database
from command_center.outbox.models import RoomSequence
from command_center.outbox.relay import client_body
from command_center.outbox.service import replay, room_head

BATCH = 500

Send = Callable[[str, dict[str, Any]], Awaitable[None]]  # (event name, body) to the one client


@dataclass(frozen=True, slots=True)
class ReplayResult:
    room: str
    head: int  # the room's last committed seq when the replay started
    replayed: int  # events sent
    resync: bool  # True: the gap could not be replayed; the client must reload and start at `head`

    def as_ack(self) -> dict[str, Any]:
        return {"seq": self.head, "replayed": self.replayed, "resync": self.resync}


async def heads(db: Database, rooms: Iterable[str]) -> dict[str, int]:
    """The last committed seq of each room (0 for a room without events yet)."""
    names = sorted(set(rooms))
    if not names:
        return {}
    table = RoomSequence.__table__
    async with db.unit_of_work(read_only=True) as session:
        rows = (
            await session.execute(select(table.c.room, table.c.last_seq).where(table.c.room.in_(names)))
        ).all()
    found = {row.room: row.last_seq for row in rows}
    return {name: found.get(name, 0) for name in names}


async def replay_room(db: Database, send: Send, *, room: str, after_seq: int, limit: int) -> ReplayResult:
    """Sends the room's events numbered after `after_seq` through `send`, in order, then reports.

    Events committed while this runs are left to live delivery (the caller is in the room already);
    the head is read first so the replay stops there and the client's later `resume` covers the rest.
    """
    async with db.unit_of_work(read_only=True) as session:
        head = await room_head(session, room=room)
        if after_seq == head:
            return ReplayResult(room, head, 0, False)
        if after_seq > head or head - after_seq > limit:
            # Ahead of the room (the database was restored) or too far behind to patch: reload.
            return ReplayResult(room, head, 0, True)
        sent, cursor = 0, after_seq
        while cursor < head:
            rows = await replay(session, room=room, after_seq=cursor, limit=min(BATCH, head - cursor))
            if not rows:
                return ReplayResult(room, head, sent, True)
            for row in rows:
                if row.seq != cursor + 1:
                    # Purged after the retention window: what was sent so far is in order, but the
                    # client cannot fill the rest and must reload.
                    return ReplayResult(room, head, sent, True)
                body = client_body(room=row.room, seq=row.seq, event_id=row.event_id, data=row.payload)
                await send(row.name, body)
                sent, cursor = sent + 1, row.seq
    return ReplayResult(room, head, sent, False)
