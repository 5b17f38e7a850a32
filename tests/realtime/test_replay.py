"""A client that was away gets every event it missed, once and in order, from the outbox."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import update

from command_center.outbox.models import OutboxEvent
from tests.realtime.conftest import all_published

HANGZHOU = "330100"  # 杭州市中级人民法院: its command staff follow court:330100 and subtree:330100
XIHU = "330106"


def consecutive(seqs: list[int]) -> bool:
    return seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True


async def test_a_client_offline_during_200_events_gets_all_of_them_once_in_order(
    start_node: Any, make_account: Any, commit_events: Any, live_db: Any, clients: list
) -> None:
    node = await start_node("a")
    staff = await make_account("command_staff", HANGZHOU)
    handled: list[str] = []
    client = staff.client(node.url, on_event=lambda name, body: handled.append(body["event_id"]))
    clients.append(client)
    await client.connect()
    rooms = [f"court:{HANGZHOU}", f"subtree:{HANGZHOU}"]
    before = await commit_events(rooms, 3)
    await client.wait_for(lambda: all(len(client.log[room]) == 3 for room in rooms))

    client.reconnect = False
    await client.drop_connection()
    missed = await commit_events(rooms, 200, per_transaction=7)
    await all_published(live_db)  # published while nobody listened
    client.reconnect = True
    ack = await client.connect()

    assert ack["ok"] and {room: ack["rooms"][room]["replayed"] for room in rooms} == dict.fromkeys(rooms, 200)
    for room in rooms:
        assert len(client.log[room]) == 203
        assert consecutive(client.seqs(room))
        assert [event.event_id for event in client.log[room]] == before + missed
    # The same event in court:X and subtree:X is handed to the application once.
    await client.wait_for(lambda: len(handled) == 203)
    assert handled == before + missed


async def test_events_that_keep_coming_during_reconnects_arrive_once_in_order(
    start_node: Any, make_account: Any, commit_events: Any, live_db: Any, clients: list
) -> None:
    node = await start_node("a")
    clerk = await make_account("clerk", XIHU)
    client = clerk.client(node.url)
    clients.append(client)
    await client.connect()
    room = f"court:{XIHU}"

    writer = asyncio.create_task(commit_events([room], 200, per_transaction=3))
    while not writer.done():
        # Live delivery and replays overlap: the client sees seqs twice and out of order.
        await asyncio.sleep(0.05)
        await client.drop_connection()
        await client.wait_for(lambda: client.connected)
    sent = await writer
    await client.wait_for(lambda: len(client.log[room]) >= 200)
    assert [event.event_id for event in client.log[room]][-200:] == sent
    assert consecutive(client.seqs(room))
    assert client.connections > 1


async def test_a_gap_older_than_the_retention_window_asks_for_a_resync(
    start_node: Any, make_account: Any, commit_events: Any, live_db: Any, clients: list
) -> None:
    node = await start_node("a")
    clerk = await make_account("clerk", XIHU)
    client = clerk.client(node.url)
    clients.append(client)
    await client.connect()
    room = f"court:{XIHU}"
    await commit_events([room], 1)
    await client.wait_for(lambda: client.log[room])
    last = client.tracker.last_seq(room)

    client.reconnect = False
    await client.drop_connection()
    await commit_events([room], 5)
    await all_published(live_db)
    # The purge job deletes published events after the retention window; here, the oldest two.
    async with live_db.unit_of_work() as session:
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.room == room, OutboxEvent.seq.in_([last + 1, last + 2]))
            .values(room=f"purged:{room}")
        )
    client.reconnect = True
    ack = await client.connect()

    assert ack["rooms"][room]["resync"] is True
    assert client.resyncs == [(room, last + 5)]
    assert client.tracker.last_seq(room) == last + 5
    await commit_events([room], 1)
    await client.wait_for(lambda: client.seqs(room)[-1] == last + 6)
