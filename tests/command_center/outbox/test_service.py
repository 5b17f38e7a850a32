"""Outbox writes: one row per room in the writer's transaction, numbered per room without gaps or twins."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.db import Database, utcnow
from command_center.outbox import service as outbox
from command_center.outbox.models import OutboxEvent


def rooms(*kinds: str) -> list[str]:
    """Fresh room names, so tests never see each other's sequences."""
    tag = uuid.uuid4().hex[:8]
    return [f"{kind}:{tag}" for kind in kinds]


async def test_an_event_is_written_once_per_room_under_one_event_id(session: AsyncSession) -> None:
    court, subtree, request = rooms("court", "subtree", "request")
    rows = await outbox.record_event(
        session, name="assistance:routed", rooms=[request, court, subtree, court], payload={"request_id": 12}
    )
    assert sorted(r.room for r in rows) == sorted([court, subtree, request])
    assert len({r.event_id for r in rows}) == 1 and len(rows[0].event_id) == 32
    assert all(r.seq == 1 and r.published_at is None and r.id is not None for r in rows)
    assert all(r.payload == {"request_id": 12} and r.name == "assistance:routed" for r in rows)


async def test_room_seqs_are_consecutive_across_events_and_rooms(session: AsyncSession) -> None:
    court, subtree, request = rooms("court", "subtree", "request")
    plan = [[court, subtree], [request], [court], [court, request, subtree], [subtree]]
    for i, targets in enumerate(plan):
        await outbox.record_event(session, name="assistance:updated", rooms=targets, payload={"i": i})
    for room in (court, subtree, request):
        seqs = [e.seq for e in await outbox.replay(session, room=room, after_seq=0)]
        expected = sum(room in targets for targets in plan)
        assert seqs == list(range(1, expected + 1))
        assert await outbox.room_head(session, room=room) == expected


async def test_the_payload_carries_no_personal_identifiers(session: AsyncSession) -> None:
    (room,) = rooms("request")
    (row,) = await outbox.record_event(
        session,
        name="assistance:submitted",
        rooms=[room],
        payload={
            "respondent": {"id_number": "330106198506153212", "phone": "13812345678"},
            "summary": "冻结账户6222021202041234569",
        },
    )
    raw = (
        await session.execute(text("SELECT payload FROM outbox_event WHERE id = :id"), {"id": row.id})
    ).scalar_one()
    for secret in ("330106198506153212", "13812345678", "6222021202041234569"):
        assert secret not in str(raw)
    assert row.payload["respondent"] == {"id_number": "3301**********3212", "phone": "138****5678"}


async def test_a_rolled_back_transaction_leaves_no_event_and_uses_no_number(test_db: Database) -> None:
    (room,) = rooms("court")
    with pytest.raises(RuntimeError):
        async with test_db.unit_of_work() as session:
            await outbox.record_event(session, name="assistance:routed", rooms=[room], payload={})
            raise RuntimeError("the state change failed")
    async with test_db.unit_of_work() as session:
        assert await outbox.replay(session, room=room, after_seq=0) == []
        assert await outbox.room_head(session, room=room) == 0
        (row,) = await outbox.record_event(session, name="assistance:routed", rooms=[room], payload={})
    assert row.seq == 1


async def test_replay_returns_the_events_after_a_seq_in_order(session: AsyncSession) -> None:
    (room,) = rooms("request")
    for i in range(7):
        await outbox.record_event(session, name="assistance:message_posted", rooms=[room], payload={"i": i})
    replayed = await outbox.replay(session, room=room, after_seq=3)
    assert [(e.seq, e.payload["i"]) for e in replayed] == [(4, 3), (5, 4), (6, 5), (7, 6)]
    assert [e.seq for e in await outbox.replay(session, room=room, after_seq=3, limit=2)] == [4, 5]
    assert await outbox.replay(session, room=room, after_seq=7) == []
    assert replayed[0].created_at.utcoffset() == timedelta(0)


async def test_a_new_room_starts_at_zero(session: AsyncSession) -> None:
    (room,) = rooms("user")
    assert await outbox.room_head(session, room=room) == 0


@pytest.mark.parametrize("name", ["routed", "Assistance:Routed", "assistance:", "assistance routed:x"])
async def test_event_names_must_be_domain_and_past_tense(session: AsyncSession, name: str) -> None:
    with pytest.raises(ValueError, match="event name"):
        await outbox.record_event(session, name=name, rooms=rooms("court"), payload={})


async def test_an_event_for_no_room_writes_nothing(session: AsyncSession) -> None:
    assert await outbox.record_event(session, name="campaign:dispatched", rooms=[], payload={}) == []


async def test_purge_deletes_only_events_published_before_the_cutoff(session: AsyncSession) -> None:
    (room,) = rooms("court")
    rows = []
    for _ in range(3):
        rows += await outbox.record_event(session, name="assistance:filed", rooms=[room], payload={})
    now = utcnow()
    old, recent, unpublished = rows
    table = OutboxEvent.__table__
    await session.execute(
        update(table).where(table.c.id == old.id).values(published_at=now - timedelta(days=10))
    )
    await session.execute(
        update(table).where(table.c.id == recent.id).values(published_at=now - timedelta(days=1))
    )
    deleted = await outbox.purge(session, older_than=now - timedelta(days=7))
    remaining = (await session.execute(select(table.c.id).where(table.c.room == room))).scalars().all()
    assert deleted >= 1
    assert sorted(remaining) == sorted([recent.id, unpublished.id])
    assert await outbox.room_head(session, room=room) == 3  # numbering continues after a purge


async def test_concurrent_writers_never_share_a_seq(private_db: Database) -> None:
    court, subtree, request = rooms("court", "subtree", "request")

    async def writer(worker: int) -> None:
        for i in range(6):
            targets = [court, subtree] if (worker + i) % 2 else [subtree, request, court]
            async with private_db.unit_of_work() as session:
                await outbox.record_event(
                    session, name="assistance:updated", rooms=targets, payload={"w": worker}
                )
            await asyncio.sleep(0)

    await asyncio.gather(*(writer(w) for w in range(8)))
    # Odd (worker + i) writes to court and subtree, even to all three: 48, 48 and 24 events.
    async with private_db.unit_of_work() as session:
        for room, count in ((court, 48), (subtree, 48), (request, 24)):
            seqs = [e.seq for e in await outbox.replay(session, room=room, after_seq=0, limit=10_000)]
            assert seqs == list(range(1, count + 1))
            assert await outbox.room_head(session, room=room) == count


async def test_concurrent_first_events_in_a_new_room_do_not_collide(private_db: Database) -> None:
    (room,) = rooms("court")

    async def writer() -> None:
        async with private_db.unit_of_work() as session:
            await outbox.record_event(session, name="court:updated", rooms=[room], payload={})

    await asyncio.gather(*(writer() for _ in range(10)))
    async with private_db.unit_of_work() as session:
        assert [e.seq for e in await outbox.replay(session, room=room, after_seq=0)] == list(range(1, 11))


def test_seq_tracker_accepts_each_seq_once_per_room() -> None:
    tracker = outbox.SeqTracker()
    assert tracker.accept("court:330106", 1) and tracker.accept("court:330106", 2)
    assert not tracker.accept("court:330106", 2)
    assert not tracker.accept("court:330106", 1)
    assert tracker.accept("request:9", 1)
    assert tracker.snapshot() == {"court:330106": 2, "request:9": 1}


def test_seq_tracker_names_the_numbers_skipped_over() -> None:
    tracker = outbox.SeqTracker({"court:330106": 4})
    assert list(tracker.missing("court:330106", 8)) == [5, 6, 7]
    assert list(tracker.missing("court:330106", 5)) == []
    assert list(tracker.missing("request:1", 40)) == []  # an unseen room: nothing known to be missing
    assert tracker.accept("court:330106", 8) and tracker.last_seq("court:330106") == 8
    tracker.seed("court:330106", 3)
    assert tracker.last_seq("court:330106") == 8  # seeding never moves backwards
    tracker.seed("user:5", 12)
    assert not tracker.accept("user:5", 12) and tracker.accept("user:5", 13)
