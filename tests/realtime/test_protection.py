"""What one client may do to the node and to everyone else: nothing without credentials or from a
foreign origin, no oversize or too many events, and no holding up others by not reading."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from realtime.client import ClientRefused, LiveClient
from tests.realtime.conftest import StallingProxy, all_published

XIHU = "330106"


async def test_a_connection_without_credentials_is_refused(start_node: Any) -> None:
    node = await start_node("a")
    with pytest.raises(ClientRefused) as refused:
        await LiveClient(node.url, reconnect=False).connect()
    assert refused.value.details["data"] == {"code": "not_authenticated"}


async def test_a_connection_with_a_bad_token_or_stale_cookie_is_refused(start_node: Any) -> None:
    node = await start_node("a")
    with pytest.raises(ClientRefused) as refused:
        await LiveClient(node.url, token="cct_1_not-the-secret", reconnect=False).connect()
    assert refused.value.details["data"]["code"] == "token_invalid"
    with pytest.raises(ClientRefused) as refused:
        await LiveClient(node.url, cookie="stale", reconnect=False).connect()
    assert refused.value.details["data"]["code"] == "session_invalid"


async def test_a_page_on_a_foreign_origin_cannot_open_a_socket(start_node: Any, make_account: Any) -> None:
    node = await start_node("a", allowed_origins=["https://dashboard.example.court"])
    clerk = await make_account("clerk", XIHU)
    foreign = clerk.client(node.url, headers={"Origin": "https://evil.example"}, reconnect=False)
    with pytest.raises(ConnectionError):
        await foreign.connect()
    for origin in (node.url, "https://dashboard.example.court"):
        allowed = clerk.client(node.url, headers={"Origin": origin}, reconnect=False)
        await allowed.connect()
        await allowed.close()


async def test_an_oversize_event_is_refused_and_an_oversize_message_closes_the_connection(
    start_node: Any, make_account: Any, clients: list
) -> None:
    node = await start_node("a")
    clerk = await make_account("clerk", XIHU)
    client = clerk.client(node.url, reconnect=False)
    clients.append(client)
    await client.connect()

    ack = await client.call("presence", {"room": f"court:{XIHU}", "pad": "x" * 9000})
    assert ack["ok"] is False and ack["error"] == "payload_too_large"
    ack = await client.call("join", {"room": f"court:{XIHU}", "colour": "red"})
    assert ack["ok"] is False and ack["error"] == "invalid_input"
    assert (await client.call("ping"))["ok"] is True

    with pytest.raises(ConnectionError):
        await client.call("ping", {"pad": "x" * 70_000})  # above the 64 KiB engine.io limit
    assert not client.connected


async def test_a_client_sending_too_fast_is_told_to_slow_down(
    start_node: Any, make_account: Any, clients: list
) -> None:
    node = await start_node("a", realtime_event_burst=5, realtime_events_per_second=0.01)
    clerk = await make_account("clerk", XIHU)
    client = clerk.client(node.url)
    clients.append(client)
    await client.connect()  # its resume spends one event

    answers = [await client.call("ping") for _ in range(5)]
    assert [answer["ok"] for answer in answers] == [True, True, True, True, False]
    assert answers[-1]["error"] == "rate_limited" and answers[-1]["retry_after"] > 0


async def test_a_client_that_stops_reading_is_dropped_without_holding_up_others_and_recovers_by_replay(
    start_node: Any, make_account: Any, commit_events: Any, live_db: Any, clients: list
) -> None:
    limit = 20
    node = await start_node("a", realtime_max_queued_packets=limit)
    proxy = await StallingProxy(int(node.url.rsplit(":", 1)[1])).start()
    clerk = await make_account("clerk", XIHU)
    slow, healthy = clerk.client(proxy.url), clerk.client(node.url)
    clients.extend([slow, healthy])
    await slow.connect()
    await healthy.connect()
    room = f"court:{XIHU}"

    proxy.stall()
    # Ephemeral traffic fills the kernel's and the server's buffers until the slow client's queue
    # grows; then durable events arrive, and the queue reaches its limit.
    flooded, deepest, durable = 0, 0, []
    while node.sio.slow_consumers_dropped == 0 and flooded < 20_000:
        await node.sio.emit("test:flooded", {"room": room, "data": "y" * 1000}, room=room, namespace="/live")
        flooded += 1
        deepest = max([deepest, *(s.queue.qsize() for s in node.sio.eio.sockets.values())])
        if deepest >= limit // 2 and not durable:
            durable = await commit_events([room], 30)
            await all_published(live_db)
        if flooded % 50 == 0:
            await asyncio.sleep(0)
    assert node.sio.slow_consumers_dropped == 1
    assert deepest <= limit  # the queue never grew past its bound

    # Everyone else got everything, while the slow client was stuck.
    def floods(client: LiveClient) -> int:
        return sum(1 for name, _ in client.ephemeral if name == "test:flooded")

    await healthy.wait_for(lambda: floods(healthy) == flooded)
    assert [event.event_id for event in healthy.log[room]] == durable

    proxy.resume()
    await slow.wait_for(lambda: slow.connections == 2 and len(slow.log[room]) == 30)
    assert ("realtime:dropped", {"reason": "slow_consumer"}) in slow.ephemeral
    assert [event.event_id for event in slow.log[room]] == durable
    assert slow.resume_acks[-1]["rooms"][room]["replayed"] > 0  # what was discarded came back by replay
    await proxy.close()
