"""Committed events reach every client in their rooms, whichever node the client is connected to."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from command_center.outbox.models import OutboxEvent
from realtime.emitter import Emitter
from realtime.fanout import FanoutUnavailable
from tests.realtime.conftest import all_published

XIHU = "330106"  # 杭州市西湖区人民法院


async def test_an_event_committed_on_node_a_reaches_a_client_on_node_b(
    start_node: Any, make_account: Any, commit_events: Any, clients: list
) -> None:
    node_a, node_b = await start_node("a"), await start_node("b")
    clerk = await make_account("clerk", XIHU)
    client = clerk.client(node_b.url)
    clients.append(client)
    await client.connect()

    # Only node A's relay publishes: node B's never sees the row.
    node_b.sio.runtime.relay_stop.set()
    await node_b.sio.runtime.relay_task
    [event_id] = await commit_events([f"court:{XIHU}"], 1, name="assistance:routed")
    node_a.services.extras["relay"].wake()

    await client.wait_for(lambda: client.log[f"court:{XIHU}"])
    [delivered] = client.log[f"court:{XIHU}"]
    assert delivered.event_id == event_id
    assert delivered.name == "assistance:routed"
    assert delivered.data == {"n": 0}


async def test_a_worker_emits_ephemeral_events_through_the_write_only_emitter(
    start_node: Any, make_account: Any, settings: Any, clients: list
) -> None:
    node = await start_node("a")
    clerk = await make_account("clerk", XIHU)
    client = clerk.client(node.url)
    clients.append(client)
    await client.connect()

    emitter = Emitter(settings.redis_url)
    try:
        await emitter.emit(
            "campaign:progressed", room=f"court:{XIHU}", data={"done": 3, "phone": "13812345678"}
        )
    finally:
        await emitter.close()

    def progress() -> list:
        return [body for name, body in client.ephemeral if name == "campaign:progressed"]

    await client.wait_for(progress)
    assert progress() == [{"room": f"court:{XIHU}", "data": {"done": 3, "phone": "138****5678"}}]


async def test_an_event_the_fan_out_could_not_take_stays_unpublished_and_goes_out_when_redis_is_back(
    start_node: Any, make_account: Any, commit_events: Any, live_db: Any, private_redis: Any, clients: list
) -> None:
    node = await start_node("a", redis_url=private_redis.url)
    runtime = node.sio.runtime
    runtime.relay_stop.set()  # the test drives the relay itself
    await runtime.relay_task
    relay = runtime.relay
    clerk = await make_account("clerk", XIHU)
    client = clerk.client(node.url)
    clients.append(client)
    await client.connect()
    room = f"court:{XIHU}"

    private_redis.stop()
    try:
        [event_id] = await commit_events([room], 1)
        with pytest.raises(FanoutUnavailable):
            await relay.run_once()  # this node's clients got it; the other nodes could not
    finally:
        private_redis.start()
    async with live_db.unit_of_work(read_only=True) as session:
        row = (
            await session.execute(select(OutboxEvent).where(OutboxEvent.event_id == event_id))
        ).scalar_one()
    assert row.published_at is None

    assert await relay.run_once() == 1
    await all_published(live_db)
    await client.wait_for(lambda: client.duplicates >= 1)  # the second copy, dropped by seq
    assert [event.event_id for event in client.log[room]] == [event_id]
