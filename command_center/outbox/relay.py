"""The relay: publishes committed outbox rows at least once and marks them published.

Each pass claims a batch of unpublished rows in id order, hands the whole batch to the publisher in
one call, and marks the rows. If publishing or marking fails, the rows stay unmarked and are published
again by a later pass: consumers drop duplicates by room and seq (`SeqTracker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update

from command_center.db import Database, utcnow
from command_center.outbox.models import OutboxEvent
from command_center.outbox.service import SeqTracker, outbox_payload_text, purge

__all__ = ["OutboxMessage", "OutboxRelay", "Publish", "SeqTracker", "client_body", "purge"]

log = logging.getLogger(__name__)
_EVENT = OutboxEvent.__table__
_MARK = (
    update(_EVENT)
    .where(_EVENT.c.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)
_MARK_UP_TO = (
    update(_EVENT)
    .where(_EVENT.c.published_at.is_(None), _EVENT.c.id <= bindparam("last_id"))
    .values(published_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


def client_body(*, room: str, seq: int, event_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """What a client receives of an event: its data with its room, seq and id."""
    return {"room": room, "seq": seq, "event_id": event_id, "data": data}


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One event for one room, as handed to a publisher (never an ORM object).

    The payload stays the JSON text stored in the outbox: a publisher that only forwards it (to Redis)
    never decodes it, and one that delivers it (to a socket.io client) decodes it once.
    """

    room: str
    seq: int
    name: str
    payload_json: str
    event_id: str

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json)

    def as_payload(self) -> dict[str, Any]:
        """The body sent to clients (`client_body`)."""
        return client_body(room=self.room, seq=self.seq, event_id=self.event_id, data=self.payload)

    def as_payload_json(self) -> str:
        """`as_payload()` encoded as JSON, built around the stored payload text without decoding it."""
        return (
            f'{{"room":{json_string(self.room)},"seq":{int(self.seq)},'
            f'"event_id":{json_string(self.event_id)},"data":{self.payload_json}}}'
        )


@functools.lru_cache(maxsize=65536)
def json_string(value: str) -> str:
    """`value` as a JSON string (room names and event names repeat: each is encoded once)."""
    return json.dumps(value, ensure_ascii=False)


# Publishes a batch of events, in order; raising means "not delivered everywhere": the whole batch
# stays unmarked and is published again (some of it may have reached consumers already).
Publish = Callable[[Sequence[OutboxMessage]], Awaitable[None]]


class WakeSignal(asyncio.Event):
    """An asyncio.Event that can also be called: `relay.wake()` is `relay.wake.set()`."""

    def __call__(self) -> None:
        self.set()


_SQLITE_RELAY_LOCKS: weakref.WeakKeyDictionary[Database, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _sqlite_relay_lock(db: Database) -> asyncio.Lock:
    """The lock the relays of this process (and event loop) on SQLite database `db` take turns with."""
    loop = asyncio.get_running_loop()
    found = _SQLITE_RELAY_LOCKS.get(db)
    if found is None or found[0] is not loop:
        found = _SQLITE_RELAY_LOCKS[db] = (loop, asyncio.Lock())
    return found[1]


class OutboxRelay:
    """Moves committed events from the outbox to `publish`; one per app node or worker."""

    def __init__(
        self,
        db: Database,
        publish: Publish,
        *,
        batch_size: int = 500,
        poll_seconds: float = 0.2,
        max_backoff_seconds: float = 30.0,
        publish_timeout_seconds: float = 10.0,
    ) -> None:
        self.db = db
        self.publish = publish
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.publish_timeout_seconds = publish_timeout_seconds
        # A writer in this process calls wake() after its commit, so events go out without waiting a poll.
        self.wake = WakeSignal()

    async def run_once(self) -> int:
        """Publishes one batch of unpublished events and marks them published; returns how many.

        PostgreSQL: FOR UPDATE SKIP LOCKED, so relays on other nodes take other rows meanwhile and
        no row is published by two relays at once. SQLite: the relays of the process take turns, and
        the batch is marked in a short write transaction after publishing (see `_run_once_sqlite`).
        An exception from `publish` leaves the whole batch unmarked for a retry.
        """
        if self.db.engine.dialect.name == "sqlite":
            return await self._run_once_sqlite()  # its claim only reads: no probe needed first
        if not await self._has_unpublished():
            return 0
        async with self.db.unit_of_work() as session:
            rows = (await session.execute(self._batch.with_for_update(skip_locked=True))).all()
            if not rows:
                return 0
            await self._publish_all(rows)
            await self._mark(session, rows)
        return len(rows)

    async def _run_once_sqlite(self) -> int:
        # SQLite has one write lock for the whole database: holding it while publishing would stop every
        # writer for as long as the publisher takes. The batch is read, published and then marked in a
        # short write transaction; relays of this process take turns (the only relays of an embedded,
        # one-machine SQLite deployment), and a crash before the mark republishes, as elsewhere.
        async with _sqlite_relay_lock(self.db):
            async with self.db.unit_of_work(read_only=True) as session:
                rows = (await session.execute(self._batch)).all()
            if not rows:
                return 0
            await self._publish_all(rows)
            async with self.db.unit_of_work() as session:
                # The batch is every unpublished row up to its last id: SQLite's writers take turns and
                # a row committed later gets a higher id, so "unpublished, up to the last id" is the batch.
                await session.execute(_MARK_UP_TO, {"last_id": rows[-1].id, "now": utcnow()})
        return len(rows)

    @functools.cached_property
    def _batch(self) -> Any:
        """The claim's query (built once per relay)."""
        return (
            select(
                _EVENT.c.id,
                _EVENT.c.room,
                _EVENT.c.seq,
                _EVENT.c.name,
                outbox_payload_text(),
                _EVENT.c.event_id,
            )
            .where(_EVENT.c.published_at.is_(None))
            .order_by(_EVENT.c.id)
            .limit(self.batch_size)
        )

    async def _publish_all(self, rows: Any) -> None:
        messages = [
            OutboxMessage(
                room=row.room, seq=row.seq, name=row.name, payload_json=row.payload, event_id=row.event_id
            )
            for row in rows
        ]
        # A hung publisher must not hold the rows' locks forever: time out, roll back, retry.
        async with asyncio.timeout(self.publish_timeout_seconds):
            await self.publish(messages)

    async def _mark(self, session: Any, rows: Any) -> None:
        await session.execute(_MARK, {"ids": [row.id for row in rows], "now": utcnow()})

    async def _has_unpublished(self) -> bool:
        # An idle pass only reads, so on SQLite polling never takes the write lock from writers.
        async with self.db.unit_of_work(read_only=True) as session:
            probe = select(_EVENT.c.id).where(_EVENT.c.published_at.is_(None)).limit(1)
            return (await session.execute(probe)).first() is not None

    async def run_forever(self, stop_event: asyncio.Event) -> None:
        """Publishes until `stop_event` is set; a failure (database down, publisher down) is logged
        and retried with exponential backoff, never fatal."""
        backoff = self.poll_seconds
        while not stop_event.is_set():
            # Cleared before the pass: a wake() during the pass makes the next wait return at once.
            self.wake.clear()
            try:
                published = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                backoff = min(max(backoff * 2, self.poll_seconds, 0.1), self.max_backoff_seconds)
                log.warning("outbox relay pass failed; retrying in %.1f s", backoff, exc_info=True)
                await self._wait(stop_event, backoff, wakeable=False)
                continue
            backoff = self.poll_seconds
            if published >= self.batch_size:
                continue  # a full batch: more are likely waiting
            await self._wait(stop_event, self.poll_seconds, wakeable=True)

    async def _wait(self, stop_event: asyncio.Event, seconds: float, *, wakeable: bool) -> None:
        """Sleeps `seconds`, or less if stopped (or woken, when `wakeable`)."""
        waits = [asyncio.ensure_future(stop_event.wait())]
        if wakeable:
            waits.append(asyncio.ensure_future(self.wake.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                if not waiter.done():
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiter
