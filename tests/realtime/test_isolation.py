"""Who hears about a request: its two courts and their supervisors, never an unrelated court.

A request from 杭州市西湖区人民法院 (330106) to 宁波市海曙区人民法院 (330203) is supervised by the
Zhejiang High Court (330000). Its life runs through the real HTTP API on two nodes: filed by the
requester's court system, accepted by the target's, discussed in its thread, read, typed in.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from command_center.audit.models import AuditEntry
from command_center.outbox.models import OutboxEvent
from realtime.client import LiveClient
from tests.realtime.conftest import all_published
from tests.realtime.factories import REQUESTER, SUPERVISOR, TARGET, api, submit_request

GONGSHU, BEIJING_HIGH, TIANHE = "330105", "110000", "440106"  # unrelated to the request


def about(client: LiveClient, event_ids: set[str], request_id: int) -> list[Any]:
    """Everything the client received that concerns the request."""
    durable = [event for events in client.log.values() for event in events if event.event_id in event_ids]
    ephemeral = [
        (name, body)
        for name, body in client.ephemeral
        if isinstance(body, dict)
        and (body.get("request_id") == request_id or body.get("room") == f"request:{request_id}")
    ]
    return durable + ephemeral


async def test_unrelated_courts_hear_nothing_of_a_request_while_its_supervisors_hear_all_of_it(
    start_node: Any, make_account: Any, commit_events: Any, live_db: Any, clients: list
) -> None:
    node_a, node_b = await start_node("a"), await start_node("b")
    requester_system, target_system = (
        await make_account("token", REQUESTER),
        await make_account("token", TARGET),
    )
    supervisor = await make_account("command_staff", SUPERVISOR)
    requester_clerk = await make_account("clerk", REQUESTER)
    unrelated = {
        GONGSHU: await make_account("clerk", GONGSHU),
        BEIJING_HIGH: await make_account("command_staff", BEIJING_HIGH),
        TIANHE: await make_account("token", TIANHE),
    }
    watcher = supervisor.client(node_b.url)
    clerk = requester_clerk.client(node_a.url)
    strangers = {
        court: account.client(node_a.url if i % 2 else node_b.url)
        for i, (court, account) in enumerate(unrelated.items())
    }
    for client in [watcher, clerk, *strangers.values()]:
        clients.append(client)
        await client.connect()

    request = await submit_request(node_a, requester_system, serial=1)
    rid, room = request["id"], f"request:{request['id']}"
    assert (await watcher.join(room))["ok"] and (await clerk.join(room))["ok"]
    for stranger in strangers.values():
        assert (await stranger.join(room)) == {
            "ok": False,
            "error": "forbidden",
            "message": "no such request visible to your court",
        }
        assert not (await stranger.join(f"court:{REQUESTER}"))["ok"]
        assert not (await stranger.join(f"subtree:{SUPERVISOR}"))["ok"]

    async with api(node_b, target_system) as http:
        filed = await http.post(
            f"/api/v1/assistance-requests/{rid}/file", json={"version": request["version"]}
        )
        assert filed.status_code == 200, filed.text
        posted = await http.post(
            f"/api/v1/assistance-requests/{rid}/messages", json={"body": "已立案。经办人电话 13812345678"}
        )
        assert posted.status_code == 201, posted.text
    assert (await clerk.call("typing", {"request_id": rid}))["sent"] is True
    read = await clerk.call("read", {"request_id": rid, "last_message_id": posted.json()["id"]})
    assert read["ok"] and read["advanced"] and read["court"] == REQUESTER

    # A sentinel behind everything in each stranger's rooms: once it is there, so is anything sent earlier.
    await commit_events([f"court:{court}" for court in strangers], 1, name="test:sentinel")
    await all_published(live_db)
    for stranger in strangers.values():
        await stranger.wait_for(
            lambda s=stranger: any(e.name == "test:sentinel" for es in s.log.values() for e in es)
        )

    async with live_db.unit_of_work(read_only=True) as session:
        rows = (
            await session.execute(
                select(OutboxEvent.event_id, OutboxEvent.name).where(OutboxEvent.room == room)
            )
        ).all()
    event_ids = {row.event_id for row in rows}
    assert {row.name for row in rows} >= {
        "assistance:filed",
        "assistance:message_posted",
        "assistance:thread_read",
    }

    # The supervising court's command staff hear every event about the request, and the typing.
    await watcher.wait_for(lambda: event_ids <= {e.event_id for es in watcher.log.values() for e in es})
    await watcher.wait_for(lambda: any(name == "thread:typing" for name, _ in watcher.ephemeral))
    routed = [e for es in watcher.log.values() for e in es if e.name == "assistance:routed"]
    assert routed and routed[0].data["id"] == rid  # before the join, through court:330000 and subtree:330000
    [message] = [e for e in watcher.log[room] if e.name == "assistance:message_posted"]
    assert "13812345678" not in str(message.data) and "138****5678" in message.data["body"]
    [typing] = [body for name, body in watcher.ephemeral if name == "thread:typing"]
    assert typing["request_id"] == rid and typing["court"] == REQUESTER
    assert typing["user"]["id"] == requester_clerk.id

    for stranger in strangers.values():
        assert about(stranger, event_ids, rid) == []
        assert {e.name for es in stranger.log.values() for e in es} == {"test:sentinel"}

    # Every refused join is on the audit chain.
    async with live_db.unit_of_work(read_only=True) as session:
        denied = (
            await session.execute(
                select(AuditEntry.actor_court, AuditEntry.subject_id).where(
                    AuditEntry.action == "realtime.join_denied", AuditEntry.outcome == "denied"
                )
            )
        ).all()
    for court in strangers:
        for refused_room in (room, f"court:{REQUESTER}", f"subtree:{SUPERVISOR}"):
            assert (court, refused_room) in denied
