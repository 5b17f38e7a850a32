"""Several app nodes: fan-out through Redis, and a node that stops while its clients are busy."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.realtime.conftest import all_published

XIHU = "330106"  # 杭州市西湖区人民法院
HANGZHOU = "330100"  # 杭州市中级人民法院


async def test_clients_of_a_stopped_node_reconnect_to_the_other_and_miss_nothing(
    start_node: Any, make_account: Any, commit_events: Any, live_db: Any, clients: list
) -> None:
    node_a, node_b = await start_node("a"), await start_node("b")
    accounts = [
        await make_account("clerk", XIHU),
        await make_account("token", XIHU),
        await make_account("command_staff", HANGZHOU),
    ]
    for account in accounts:
        client = account.client([node_a.url, node_b.url])
        await client.connect()
        assert client.url == node_a.url
        clients.append(client)
    rooms = [f"court:{XIHU}", f"court:{HANGZHOU}", f"subtree:{HANGZHOU}"]

    sent: list[str] = []

    async def keep_writing() -> None:
        for _ in range(150):
            sent.extend(await commit_events(rooms, 1))
            await asyncio.sleep(0.002)

    writer = asyncio.create_task(keep_writing())
    await clients[0].wait_for(lambda: len(sent) >= 40)
    await node_a.stop()  # its clients are disconnected mid-stream; node B's relay carries on
    await writer
    await all_published(live_db)

    expected = {XIHU: [f"court:{XIHU}"], HANGZHOU: [f"court:{HANGZHOU}", f"subtree:{HANGZHOU}"]}
    for client, account in zip(clients, accounts, strict=True):
        for room in expected[account.court]:
            await client.wait_for(lambda c=client, r=room: len(c.log[r]) >= 150)
            assert [event.event_id for event in client.log[room]] == sent
            seqs = client.seqs(room)
            assert seqs == list(range(seqs[0], seqs[0] + 150))
        assert client.url == node_b.url
        assert client.connections == 2
