"""Who hears that a video session opened, went live and ended: the host court's command chain only.

A command staff member of 杭州市西湖区人民法院 (330106) hosts a consultation through the real HTTP API
of a running node. The command centers above Xihu (Hangzhou Intermediate, Zhejiang High, the Supreme
People's Court) hear of it in their subtree rooms; a neighbouring district court and another province's
high court hear nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from command_center.identity import service as identity
from command_center.identity.auth import CSRF_HEADER, SESSION_COOKIE
from command_center.identity.principal import Role
from command_center.outbox.models import OutboxEvent
from realtime.client import LiveClient
from tests.realtime.conftest import PASSWORD, all_published

XIHU, HANGZHOU, ZHEJIANG = "330106", "330100", "330000"
GONGSHU, GUANGDONG = "330105", "440000"  # a sibling court and another province: unrelated
_serial = itertools.count(1)


@dataclass
class Host:
    """A signed-in command staff member with the session's CSRF token, for writes over HTTP."""

    id: int
    cookie: str
    csrf: str

    def http(self, node: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=node.url, headers={"Cookie": f"{SESSION_COOKIE}={self.cookie}", CSRF_HEADER: self.csrf}
        )


async def make_host(live_db: Any, settings: Any, court: str) -> Host:
    async with live_db.unit_of_work() as session:
        user = await identity.create_user(
            session,
            username=f"video_host_{court}_{next(_serial)}",
            password=PASSWORD,
            role=Role.command_staff,
            court_code=court,
        )
        login, cookie = await identity.open_session(
            session, user=user, settings=settings, ip="127.0.0.1", user_agent="test"
        )
        return Host(user.id, cookie, login.csrf_token)


def video_events(client: LiveClient) -> list[tuple[str, str, dict[str, Any]]]:
    """(room, name, data) of every video event the client received, in arrival order per room."""
    return [
        (event.room, event.name, event.data)
        for events in client.log.values()
        for event in events
        if event.name.startswith("video:")
    ]


async def test_the_supervising_courts_hear_a_session_open_go_live_and_end_and_unrelated_courts_do_not(
    start_node: Any, make_account: Any, commit_events: Any, live_db: Any, settings: Any, clients: list
) -> None:
    node = await start_node("a")
    spc = node.services.directory.supreme.code
    assert [c.code for c in node.services.directory.ancestors(XIHU)] == [HANGZHOU, ZHEJIANG, spc]
    host = await make_host(live_db, settings, XIHU)
    supervisor = await make_account("command_staff", ZHEJIANG)
    xihu_clerk = await make_account("clerk", XIHU)
    unrelated = [await make_account("command_staff", GONGSHU), await make_account("command_staff", GUANGDONG)]
    watcher, clerk = supervisor.client(node.url), xihu_clerk.client(node.url)
    strangers = [account.client(node.url) for account in unrelated]
    for client in [watcher, clerk, *strangers]:
        clients.append(client)
        await client.connect()

    async with host.http(node) as http:
        created = await http.post("/api/v1/video-sessions", json={"topic": "现场查封指导 张三 13812345678"})
        assert created.status_code == 201, created.text
        session_id = created.json()["id"]
        joined = await http.post(f"/api/v1/video-sessions/{session_id}/join")
        assert joined.status_code == 200, joined.text
        ended = await http.post(f"/api/v1/video-sessions/{session_id}/end")
        assert ended.status_code == 200, ended.text

    def heard(client: LiveClient, room: str) -> list[tuple[str, str]]:
        return [
            (name, data["state"])
            for r, name, data in video_events(client)
            if r == room and data["session_id"] == session_id
        ]

    expected = [("video:opened", "scheduled"), ("video:opened", "live"), ("video:ended", "ended")]
    await watcher.wait_for(lambda: len(heard(watcher, f"subtree:{ZHEJIANG}")) == 3)
    assert heard(watcher, f"subtree:{ZHEJIANG}") == expected
    await clerk.wait_for(lambda: len(heard(clerk, f"court:{XIHU}")) == 3)
    assert heard(clerk, f"court:{XIHU}") == expected
    for _, _, data in video_events(watcher):
        # No topic, names or phone numbers: ids, the host court, the state and times only.
        assert set(data) == {"session_id", "state", "host_court", "created_at", "started_at", "ended_at"}
        assert data["host_court"] == XIHU

    async with live_db.unit_of_work(read_only=True) as session:
        rows = (
            (await session.execute(select(OutboxEvent).where(OutboxEvent.name == "video:opened")))
            .scalars()
            .all()
        )
    rooms = {row.room for row in rows if row.payload["session_id"] == session_id}
    assert rooms == {f"court:{XIHU}", *(f"subtree:{code}" for code in (XIHU, HANGZHOU, ZHEJIANG, spc))}

    # A sentinel behind everything in the strangers' rooms: once it is there, so is anything sent earlier.
    stranger_rooms = [f"{kind}:{code}" for code in (GONGSHU, GUANGDONG) for kind in ("court", "subtree")]
    await commit_events(stranger_rooms, 1, name="test:sentinel")
    await all_published(live_db)
    for stranger in strangers:
        await stranger.wait_for(
            lambda s=stranger: any(e.name == "test:sentinel" for es in s.log.values() for e in es)
        )
        assert video_events(stranger) == []
        # Nor may they follow the host court's rooms to hear it.
        assert not (await stranger.join(f"court:{XIHU}"))["ok"]
        assert not (await stranger.join(f"subtree:{XIHU}"))["ok"]
