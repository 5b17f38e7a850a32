"""Who is online per court and per request, across nodes, and what happens when a node dies."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from realtime.presence import PREFIX

XIHU, GONGSHU = "330106", "330105"


def changes(client: Any) -> list[tuple[str, str, int]]:
    return [
        (body["room"], body["change"], body["user"]["id"])
        for name, body in client.ephemeral
        if name == "presence:changed"
    ]


async def online(client: Any, room: str) -> dict[int, int]:
    ack = await client.call("presence", {"room": room})
    assert ack["ok"], ack
    return {person["id"]: person["connections"] for person in ack["online"]}


async def test_presence_counts_people_once_across_nodes_and_announces_arrivals_and_departures(
    start_node: Any, make_account: Any, clients: list
) -> None:
    node_a, node_b = await start_node("a"), await start_node("b")
    clerk, officer = await make_account("clerk", XIHU), await make_account("officer", XIHU)
    watching = clerk.client(node_a.url)
    second_tab = clerk.client(node_b.url)
    officer_client = officer.client(node_b.url)
    for client in (watching, second_tab, officer_client):
        clients.append(client)
        await client.connect()
    room = f"court:{XIHU}"

    assert await online(watching, room) == {clerk.id: 2, officer.id: 1}
    await watching.wait_for(lambda: (room, "joined", officer.id) in changes(watching))
    assert changes(watching).count((room, "joined", clerk.id)) == 1  # the second tab is not news

    await second_tab.close()
    await officer_client.close()
    await watching.wait_for(lambda: (room, "left", officer.id) in changes(watching))
    assert (room, "left", clerk.id) not in changes(watching)
    assert await online(watching, room) == {clerk.id: 1}


async def test_a_dead_nodes_people_go_offline_when_its_heartbeat_expires(
    start_node: Any, make_account: Any, clients: list
) -> None:
    node_a = await start_node("a", realtime_presence_ttl_seconds=0.6)
    node_b = await start_node("b", realtime_presence_ttl_seconds=0.6)
    clerk, officer = await make_account("clerk", XIHU), await make_account("officer", XIHU)
    watching, stranded = clerk.client(node_a.url), officer.client(node_b.url)
    for client in (watching, stranded):
        clients.append(client)
        await client.connect()
    room = f"court:{XIHU}"
    assert await online(watching, room) == {clerk.id: 1, officer.id: 1}

    # Node B freezes: its heartbeat stops and expires; its clients' entries stay behind in Redis.
    presence_b = node_b.services.extras["presence"]
    presence_b._task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await presence_b._task
    presence_b._task = None

    await watching.wait_for(lambda: (room, "left", officer.id) in changes(watching), timeout=10)
    assert await online(watching, room) == {clerk.id: 1}
    redis = node_a.services.redis
    assert not await redis.exists(f"{PREFIX}node-entries:{presence_b.node_id}")
    assert presence_b.node_id not in await redis.smembers(f"{PREFIX}nodes")


async def test_presence_of_a_room_is_only_for_those_who_may_join_it(
    start_node: Any, make_account: Any, clients: list
) -> None:
    node = await start_node("a")
    clerk, stranger = await make_account("clerk", XIHU), await make_account("clerk", GONGSHU)
    client = stranger.client(node.url)
    clients.append(client)
    await client.connect()
    ack = await client.call("presence", {"room": f"court:{XIHU}"})
    assert ack["ok"] is False and ack["error"] == "forbidden"
    assert clerk.court == XIHU
