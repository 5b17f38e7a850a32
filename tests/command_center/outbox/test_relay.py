"""The relay publishes committed events at least once; consumers drop what comes twice."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from command_center.db import Database
from command_center.outbox import service as outbox
from command_center.outbox.models import OutboxEvent
from command_center.outbox.relay import OutboxMessage, OutboxRelay
from command_center.outbox.service import SeqTracker

EVENT = OutboxEvent.__table__


def rooms(*kinds: str) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"{kind}:{tag}" for kind in kinds]


class Recorder:
    """A publisher that keeps what it was given; optionally fails on chosen calls after recording."""

    def __init__(self, fail_on_calls: set[int] | None = None, delay: float = 0.0) -> None:
        self.messages: list[OutboxMessage] = []
        self.batches: list[list[OutboxMessage]] = []
        self.calls = 0
        self.fail_on_calls = fail_on_calls or set()
        self.delay = delay
        self.arrived = asyncio.Event()

    async def __call__(self, messages: Sequence[OutboxMessage]) -> None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        self.batches.append(list(messages))
        self.messages.extend(messages)
        self.arrived.set()
        if self.calls in self.fail_on_calls:
            raise ConnectionError("the socket.io fan-out went away")

    def for_rooms(self, names: list[str]) -> list[OutboxMessage]:
        return [m for m in self.messages if m.room in names]


async def _commit_events(
    db: Database, names: list[str], count: int, *, event: str = "assistance:updated"
) -> None:
    async with db.unit_of_work() as session:
        for i in range(count):
            await outbox.record_event(session, name=event, rooms=names, payload={"i": i})


async def _drain(relay: OutboxRelay) -> None:
    while await relay.run_once():
        pass


async def test_a_rolled_back_transaction_publishes_nothing(test_db: Database) -> None:
    names = rooms("court")
    with pytest.raises(RuntimeError):
        async with test_db.unit_of_work() as session:
            await outbox.record_event(
                session, name="assistance:routed", rooms=names, payload={"request_id": 1}
            )
            raise RuntimeError("routing failed")
    publisher = Recorder()
    await _drain(OutboxRelay(test_db, publisher))
    assert publisher.for_rooms(names) == []


async def test_a_committed_event_is_published_once_and_marked(test_db: Database) -> None:
    names = rooms("court", "request")
    await _commit_events(test_db, names, 1, event="assistance:routed")
    publisher = Recorder()
    relay = OutboxRelay(test_db, publisher)
    await _drain(relay)
    await _drain(relay)
    published = publisher.for_rooms(names)
    assert sorted((m.room, m.seq, m.name) for m in published) == sorted(
        (r, 1, "assistance:routed") for r in names
    )
    assert len({m.event_id for m in published}) == 1
    async with test_db.unit_of_work() as session:
        marks = (
            (await session.execute(select(EVENT.c.published_at).where(EVENT.c.room.in_(names))))
            .scalars()
            .all()
        )
    assert len(marks) == 2 and all(mark is not None for mark in marks)


async def test_the_publisher_receives_plain_messages(test_db: Database) -> None:
    (room,) = rooms("request")
    await _commit_events(test_db, [room], 1, event="assistance:message_posted")
    publisher = Recorder()
    await _drain(OutboxRelay(test_db, publisher))
    (message,) = publisher.for_rooms([room])
    assert type(message) is OutboxMessage
    assert message.as_payload() == {"room": room, "seq": 1, "event_id": message.event_id, "data": {"i": 0}}


async def test_the_publisher_receives_a_claimed_batch_in_one_call_in_commit_order(test_db: Database) -> None:
    names = rooms("court", "subtree", "request")
    await _commit_events(test_db, names, 4)
    publisher = Recorder()
    await _drain(OutboxRelay(test_db, publisher, batch_size=500))
    [batch] = [b for b in publisher.batches if any(m.room in names for m in b)]
    ours = [(m.room, m.seq) for m in batch if m.room in names]
    # One row per room and event, in the order they were committed: event by event, rooms sorted.
    assert ours == [(room, seq) for seq in (1, 2, 3, 4) for room in sorted(names)]
    assert len({m.event_id for m in batch if m.room in names}) == 4


async def test_the_relay_hands_over_at_most_batch_size_events_at_once(test_db: Database) -> None:
    (room,) = rooms("court")
    await _commit_events(test_db, [room], 7)
    publisher = Recorder()
    relay = OutboxRelay(test_db, publisher, batch_size=3)
    await _drain(relay)
    assert max(len(b) for b in publisher.batches) == 3
    assert [m.seq for m in publisher.for_rooms([room])] == list(range(1, 8))


async def test_a_crash_between_publish_and_mark_republishes_and_the_consumer_drops_duplicates(
    test_db: Database,
) -> None:
    names = rooms("court", "subtree")
    await _commit_events(test_db, names, 3)
    crashing = Recorder(fail_on_calls={1})  # publishes a batch of four, then fails before marking any
    with pytest.raises(ConnectionError):
        await OutboxRelay(test_db, crashing, batch_size=4).run_once()
    healthy = Recorder()
    await _drain(OutboxRelay(test_db, healthy))

    delivered = crashing.for_rooms(names) + healthy.for_rooms(names)
    assert len(delivered) > 6  # some events went out twice
    tracker = SeqTracker()
    accepted = [(m.room, m.seq) for m in delivered if tracker.accept(m.room, m.seq)]
    assert sorted(accepted) == sorted((room, seq) for room in names for seq in (1, 2, 3))
    assert tracker.snapshot() == {room: 3 for room in names}


async def test_a_lost_mark_commit_republishes(test_db: Database) -> None:
    (room,) = rooms("court")
    await _commit_events(test_db, [room], 2)
    first = Recorder()
    # The relay's transaction runs inside a savepoint that is then rolled back, as if its commit never landed.
    savepoint = await test_db.connection.begin_nested()
    await OutboxRelay(test_db, first).run_once()
    await savepoint.rollback()
    second = Recorder()
    await _drain(OutboxRelay(test_db, second))
    assert [m.seq for m in first.for_rooms([room])] == [1, 2]
    assert [m.seq for m in second.for_rooms([room])] == [1, 2]


async def test_two_relays_never_publish_the_same_event(private_db: Database) -> None:
    names = rooms("court", "subtree", "request")
    await _commit_events(private_db, names, 20)
    publishers = [Recorder(delay=0.001), Recorder(delay=0.001)]
    relays = [OutboxRelay(private_db, p, batch_size=7) for p in publishers]
    await asyncio.gather(*(_drain(r) for r in relays))
    await asyncio.gather(*(_drain(r) for r in relays))  # anything skipped while locked by the other
    published = [(m.room, m.seq) for p in publishers for m in p.for_rooms(names)]
    assert sorted(published) == sorted((room, seq) for room in names for seq in range(1, 21))


async def test_run_forever_retries_after_failures_and_stops_when_asked(
    private_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    (room,) = rooms("court")
    await _commit_events(private_db, [room], 1)
    publisher = Recorder(fail_on_calls={1, 2})
    relay = OutboxRelay(private_db, publisher, poll_seconds=0.01)
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="command_center.outbox.relay"):
        task = asyncio.create_task(relay.run_forever(stop))
        while publisher.calls < 3:
            await asyncio.wait_for(publisher.arrived.wait(), timeout=30)
            publisher.arrived.clear()
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert [m.seq for m in publisher.for_rooms([room])] == [1, 1, 1]
    assert sum("outbox relay pass failed" in r.getMessage() for r in caplog.records) >= 2
    async with private_db.unit_of_work() as session:
        mark = await session.scalar(select(EVENT.c.published_at).where(EVENT.c.room == room))
    assert mark is not None


async def test_run_forever_survives_an_unreachable_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "no-such-dir" / "nested" / "hub.db"
    db = Database(create_async_engine(f"sqlite+aiosqlite:///{missing}"))
    relay = OutboxRelay(db, Recorder(), poll_seconds=0.01, max_backoff_seconds=0.05)
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="command_center.outbox.relay"):
        task = asyncio.create_task(relay.run_forever(stop))
        async with asyncio.timeout(30):
            while sum("outbox relay pass failed" in r.getMessage() for r in caplog.records) < 3:
                assert not task.done()
                await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert task.exception() is None
    await db.dispose()


async def test_wake_publishes_without_waiting_for_the_next_poll(private_db: Database) -> None:
    primer, room = rooms("court", "request")
    await _commit_events(private_db, [primer], 1)
    publisher = Recorder()
    relay = OutboxRelay(private_db, publisher, poll_seconds=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run_forever(stop))
    while not publisher.for_rooms([primer]):
        await asyncio.wait_for(publisher.arrived.wait(), timeout=30)
        publisher.arrived.clear()
    await _commit_events(private_db, [room], 1)
    relay.wake()  # without it the relay would sleep for an hour
    while not publisher.for_rooms([room]):
        await asyncio.wait_for(publisher.arrived.wait(), timeout=30)
        publisher.arrived.clear()
    relay.wake.set()  # the event's own API works too
    stop.set()
    await asyncio.wait_for(task, timeout=30)
    assert [m.seq for m in publisher.for_rooms([room])] == [1]


async def test_a_hung_publisher_times_out_and_leaves_the_events_for_a_retry(test_db: Database) -> None:
    (room,) = rooms("court")
    await _commit_events(test_db, [room], 1)

    async def hang(messages: Sequence[OutboxMessage]) -> None:
        await asyncio.Event().wait()

    with pytest.raises(TimeoutError):
        await OutboxRelay(test_db, hang, publish_timeout_seconds=0.05).run_once()
    publisher = Recorder()
    await _drain(OutboxRelay(test_db, publisher))
    assert [m.seq for m in publisher.for_rooms([room])] == [1]
