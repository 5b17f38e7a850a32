"""Request threads on /live: typing indicators, read receipts over the socket, leaving a room."""

from __future__ import annotations

from typing import Any

from tests.realtime.conftest import all_published
from tests.realtime.factories import REQUESTER, SUPERVISOR, api, submit_request


async def test_typing_is_for_members_of_the_request_room_and_sent_once_per_interval(
    start_node: Any, make_account: Any, clients: list
) -> None:
    node = await start_node("a")
    system, clerk, staff = (
        await make_account("token", REQUESTER),
        await make_account("clerk", REQUESTER),
        await make_account("command_staff", SUPERVISOR),
    )
    request = await submit_request(node, system, serial=101)
    room = f"request:{request['id']}"
    typist, watcher = clerk.client(node.url), staff.client(node.url)
    for client in (typist, watcher):
        clients.append(client)
        await client.connect()

    refused = await typist.call("typing", {"request_id": request["id"]})
    assert refused["ok"] is False and refused["error"] == "not_joined"
    await typist.join(room)
    await watcher.join(room)
    assert (await typist.call("typing", {"request_id": request["id"]}))["sent"] is True
    assert (await typist.call("typing", {"request_id": request["id"]}))["sent"] is False  # within 2 s
    await watcher.wait_for(lambda: any(name == "thread:typing" for name, _ in watcher.ephemeral))
    assert not any(name == "thread:typing" for name, _ in typist.ephemeral)  # not echoed to the typist


async def test_a_read_receipt_over_the_socket_moves_the_courts_mark_and_is_announced(
    start_node: Any, make_account: Any, live_db: Any, clients: list
) -> None:
    node = await start_node("a")
    system, clerk = await make_account("token", REQUESTER), await make_account("clerk", REQUESTER)
    request = await submit_request(node, system, serial=102)
    async with api(node, system) as http:
        posted = (
            await http.post(f"/api/v1/assistance-requests/{request['id']}/messages", json={"body": "请回复"})
        ).json()
    reader = clerk.client(node.url)
    clients.append(reader)
    await reader.connect()
    await reader.join(f"request:{request['id']}")

    wrong = await reader.call("read", {"request_id": request["id"], "last_message_id": posted["id"] + 1000})
    assert wrong["ok"] is False and wrong["error"] == "invalid_input"
    ack = await reader.call("read", {"request_id": request["id"], "last_message_id": posted["id"]})
    assert ack == {
        "ok": True,
        "request_id": request["id"],
        "court": REQUESTER,
        "last_message_id": posted["id"],
        "advanced": True,
    }
    await reader.wait_for(
        lambda: any(e.name == "assistance:thread_read" for e in reader.log[f"request:{request['id']}"])
    )
    again = await reader.call("read", {"request_id": request["id"], "last_message_id": posted["id"]})
    assert again["advanced"] is False


async def test_a_client_that_leaves_a_request_room_hears_no_more_of_it(
    start_node: Any, make_account: Any, live_db: Any, commit_events: Any, clients: list
) -> None:
    node = await start_node("a")
    system, staff = await make_account("token", REQUESTER), await make_account("command_staff", SUPERVISOR)
    request = await submit_request(node, system, serial=103)
    room = f"request:{request['id']}"
    watcher = staff.client(node.url)
    clients.append(watcher)
    await watcher.connect()
    await watcher.join(room)
    await commit_events([room], 1, name="test:before")
    await watcher.wait_for(lambda: watcher.log[room])

    assert (await watcher.leave(room))["ok"]
    await commit_events([room], 1, name="test:after")
    await commit_events([f"court:{SUPERVISOR}"], 1, name="test:sentinel")
    await all_published(live_db)
    await watcher.wait_for(lambda: any(e.name == "test:sentinel" for e in watcher.log[f"court:{SUPERVISOR}"]))
    assert [e.name for e in watcher.log[room]] == ["test:before"]
    # A reconnect does not bring the room back either.
    await watcher.drop_connection()
    await watcher.wait_for(lambda: watcher.connected and watcher.connections == 2)
    assert room not in watcher.resume_acks[-1]["rooms"]
