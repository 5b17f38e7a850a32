"""A relay's batch crosses Redis as one message (or a few under the size limit), and every node delivers
each of its events to its own clients in the event's room: once, in seq order, with the usual body."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis import asyncio as aioredis
from sqlalchemy import func, select

from command_center.outbox.models import OutboxEvent
from realtime.fanout import BATCH_EVENT, CHANNEL, FanoutUnavailable
from tests.realtime.conftest import all_published

XIHU = "330106"  # 杭州市西湖区人民法院
HANGZHOU = "330100"  # 杭州市中级人民法院: its command staff follow court:330100 and subtree:330100
ROOMS = [f"court:{XIHU}", f"court:{HANGZHOU}", f"subtree:{HANGZHOU}"]


class ChannelTap:
    """A plain Redis subscriber on the fan-out channel that keeps every batch message it sees."""

    def __init__(self, redis_url: str) -> None:
        self.redis = aioredis.Redis.from_url(redis_url)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.batches: list[tuple[int, list[list[Any]]]] = []  # (size in bytes, [[name, room, body], ...])
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> ChannelTap:
        await self.pubsub.subscribe(CHANNEL)
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for message in self.pubsub.listen():
            if message["type"] != "message":
                continue
            data = json.loads(message["data"])
            if data.get("event") == BATCH_EVENT:
                self.batches.append((len(message["data"]), data["data"][0]))

    def carrying(self, event_ids: list[str]) -> list[tuple[int, list[list[Any]]]]:
        """The batch messages that carry any of `event_ids`."""
        wanted = set(event_ids)
        return [batch for batch in self.batches if any(e[2]["event_id"] in wanted for e in batch[1])]

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.pubsub.aclose()
        await self.redis.aclose()


@pytest.fixture
async def tap(settings: Any) -> AsyncIterator[ChannelTap]:
    channel_tap = await ChannelTap(settings.redis_url).start()
    yield channel_tap
    await channel_tap.close()


async def _stop_relay(node: Any) -> None:
    node.sio.runtime.relay_stop.set()
    await node.sio.runtime.relay_task


async def _followers(make_account: Any, clients: list, urls: dict[str, str]) -> dict[str, Any]:
    """A clerk of Xihu and command staff of Hangzhou on each node: "a-clerk", "b-staff", ..."""
    found = {}
    for node, url in urls.items():
        for label, role, court in (("clerk", "clerk", XIHU), ("staff", "command_staff", HANGZHOU)):
            client = (await make_account(role, court)).client(url)
            clients.append(client)
            await client.connect()
            found[f"{node}-{label}"] = client
    return found


def _rooms_of(label: str) -> list[str]:
    return [f"court:{XIHU}"] if label.endswith("clerk") else [f"court:{HANGZHOU}", f"subtree:{HANGZHOU}"]


async def _received_everything(followers: dict[str, Any], sent: list[str]) -> None:
    """Waits until every follower has `sent` in each of its rooms, then checks it came once, in order."""
    for label, client in followers.items():
        for room in _rooms_of(label):
            await client.wait_for(lambda c=client, r=room: len(c.log[r]) >= len(sent))
            assert [event.event_id for event in client.log[room]] == sent, (label, room)
            seqs = client.seqs(room)
            assert seqs == list(range(seqs[0], seqs[0] + len(sent))), (label, room)


async def test_a_batch_goes_to_redis_once_and_reaches_each_room_on_every_node_once(
    start_node: Any, make_account: Any, commit_events: Any, live_db: Any, tap: ChannelTap, clients: list
) -> None:
    node_a, node_b = await start_node("a"), await start_node("b")
    await _stop_relay(node_b)  # node A's relay publishes, for both nodes
    followers = await _followers(make_account, clients, {"a": node_a.url, "b": node_b.url})

    sent = await commit_events(ROOMS, 5, name="assistance:routed", per_transaction=5)
    node_a.services.extras["relay"].wake()
    await _received_everything(followers, sent)
    await all_published(live_db)

    # One event in one more transaction: anything still on its way (a second copy) would come before it.
    [last] = await commit_events(ROOMS, 1)
    node_a.services.extras["relay"].wake()
    await _received_everything(followers, [*sent, last])
    assert {label: client.duplicates for label, client in followers.items()} == dict.fromkeys(followers, 0)
    [delivered] = followers["b-staff"].log[f"subtree:{HANGZHOU}"][:1]
    assert delivered.name == "assistance:routed" and delivered.data == {"n": 0}

    # The 15 rows (5 events x 3 rooms) crossed Redis as one message, each row once, in commit order.
    await followers["a-clerk"].wait_for(lambda: tap.carrying([last]))
    [(_, events)] = tap.carrying(sent)
    ours = [(room, body["event_id"]) for name, room, body in events if body["event_id"] in sent]
    assert ours == [(room, event_id) for event_id in sent for room in sorted(ROOMS)]
    assert all(name == "assistance:routed" and body["room"] == room for name, room, body in events)


async def test_a_batch_larger_than_the_limit_is_cut_into_several_messages_delivered_in_order(
    start_node: Any, make_account: Any, commit_events: Any, live_db: Any, tap: ChannelTap, clients: list
) -> None:
    node_a, node_b = await start_node("a"), await start_node("b")
    await _stop_relay(node_b)
    node_a.sio.manager.max_publish_bytes = 1500
    followers = await _followers(make_account, clients, {"b": node_b.url})

    sent = await commit_events(ROOMS, 12, per_transaction=12)
    node_a.services.extras["relay"].wake()
    await _received_everything(followers, sent)
    await all_published(live_db)

    await followers["b-clerk"].wait_for(lambda: sum(len(e) for _, e in tap.carrying(sent)) >= 36)
    messages = tap.carrying(sent)
    assert len(messages) > 1
    assert all(size <= 1500 for size, _ in messages)
    carried = [(room, body["seq"]) for _, events in messages for _, room, body in events]
    assert len(carried) == len(set(carried)) == 36


async def test_redis_lost_in_the_middle_of_a_batch_leaves_it_unpublished_and_the_retry_arrives_once(
    start_node: Any,
    make_account: Any,
    commit_events: Any,
    live_db: Any,
    private_redis: Any,
    clients: list,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node_a = await start_node("a", redis_url=private_redis.url)
    node_b = await start_node("b", redis_url=private_redis.url)
    await _stop_relay(node_a)  # the test drives node A's relay itself
    await _stop_relay(node_b)
    relay, manager = node_a.sio.runtime.relay, node_a.sio.manager
    manager.max_publish_bytes = 1500
    followers = await _followers(make_account, clients, {"b": node_b.url})
    listener = node_b.sio.manager.pubsub

    publish = manager._publish_bytes
    messages = 0

    async def publish_then_lose_redis(message: bytes) -> Any:
        nonlocal messages
        messages += 1
        if messages == 2:
            private_redis.stop()  # the first part of the batch went out; Redis goes away
        return await publish(message)

    monkeypatch.setattr(manager, "_publish_bytes", publish_then_lose_redis)
    sent = await commit_events(ROOMS, 12, per_transaction=12)
    try:
        with pytest.raises(FanoutUnavailable):
            await relay.run_once()
    finally:
        private_redis.start()
    monkeypatch.undo()
    async with live_db.unit_of_work(read_only=True) as session:
        unmarked = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
        )
    assert unmarked == 36
    # Node B's listener lost Redis too: publish again once it has subscribed anew.
    async with asyncio.timeout(30):
        while node_b.sio.manager.pubsub is listener or not node_b.sio.manager.pubsub.subscribed:
            await asyncio.sleep(0.02)

    assert await relay.run_once() == 36
    await _received_everything(followers, sent)
    # Node B's clients had the first part already: their second copies were dropped by seq.
    assert all(client.duplicates >= 1 for client in followers.values())
