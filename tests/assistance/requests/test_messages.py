"""A request's thread: who may read and post, cursor paging, read marks, and what leaves the database."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from assistance.requests import messages
from command_center.audit.models import AuditEntry
from command_center.errors import InvalidInput, NotFound
from command_center.masking import id_number_check_digit
from command_center.outbox.models import OutboxEvent

REQUESTING, TARGET, SUPERVISING = "330106", "330102", "330100"  # 西湖区 → 上城区, under 杭州中院
ABOVE = "330000"  # 浙江高院: its command staff see the supervisor's subtree
UNRELATED = "440305"  # 深圳市南山区人民法院


def resident_id(first17: str = "33010619900101123") -> str:
    return first17 + id_number_check_digit(first17)


async def open_request(submit: Any) -> int:
    """A request submitted through the real intake: 330106 asks 330102, 330100 supervises."""
    request = await submit()
    assert (request.requesting_court, request.target_court, request.supervising_court) == (
        REQUESTING,
        TARGET,
        SUPERVISING,
    )
    return request.id


@pytest.fixture
async def request_id(submit: Any) -> int:
    return await open_request(submit)


ROLES = {
    "requesting": ("clerk", REQUESTING),
    "target": ("officer", TARGET),
    "supervising": ("command_staff", SUPERVISING),
    "above": ("command_staff", ABOVE),
    "unrelated": ("clerk", UNRELATED),
    "unrelated_staff": ("command_staff", "330109"),  # a sibling court in the same city
}


class Callers:
    """Signed-in clients by their place relative to the request, each signed in on first use."""

    def __init__(self, make_user: Any, login: Any) -> None:
        self._make_user, self._login, self._clients = make_user, login, {}

    async def __call__(self, who: str) -> Any:
        if who not in self._clients:
            role, court = ROLES[who]
            self._clients[who] = await self._login(await self._make_user(role, court))
        return self._clients[who]


@pytest.fixture
def caller(make_user: Any, login: Any) -> Callers:
    return Callers(make_user, login)


async def events(test_db: Any, name: str) -> list[OutboxEvent]:
    async with test_db.unit_of_work(read_only=True) as s:
        stmt = sa.select(OutboxEvent).where(OutboxEvent.name == name).order_by(OutboxEvent.id)
        return list((await s.execute(stmt)).scalars().all())


async def audit_entries(test_db: Any, request_id: int, action: str) -> list[AuditEntry]:
    async with test_db.unit_of_work(read_only=True) as s:
        stmt = sa.select(AuditEntry).where(
            AuditEntry.subject_type == "assistance_request",
            AuditEntry.subject_id == str(request_id),
            AuditEntry.action == action,
        )
        return list((await s.execute(stmt)).scalars().all())


def thread(request_id: int) -> str:
    return f"/api/v1/assistance-requests/{request_id}/messages"


async def test_the_three_courts_post_and_read_the_thread_oldest_first_by_cursor(
    request_id: int, caller: Callers
) -> None:
    posted = []
    for who, text in [
        ("requesting", "请协助查询"),
        ("target", "已收到"),
        ("supervising", "请按期办理"),
        ("above", "省院关注"),
        ("target", "已立案"),
    ]:
        response = await (await caller(who)).post(thread(request_id), json={"body": f"  {text}\n"})
        assert response.status_code == 201, response.text
        posted.append(response.json())
    assert [m["body"] for m in posted] == ["请协助查询", "已收到", "请按期办理", "省院关注", "已立案"]
    assert [m["author_court"] for m in posted] == [REQUESTING, TARGET, SUPERVISING, ABOVE, TARGET]
    ids = [m["id"] for m in posted]
    assert ids == sorted(ids)

    seen, after, pages = [], None, []
    while True:
        params = {"page_size": 2} | ({"after_id": after} if after is not None else {})
        response = await (await caller("requesting")).get(thread(request_id), params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["total"] == 5 and page["page_size"] == 2
        pages.append(page["page"])
        seen += [m["id"] for m in page["items"]]
        after = page["next_after_id"]
        if after is None:
            break
    assert seen == ids
    assert pages == [1, 2, 3]

    everything = (await (await caller("unrelated_staff")).get(thread(request_id))).status_code
    assert everything == 404
    tail = (await (await caller("target")).get(thread(request_id), params={"after_id": ids[3]})).json()
    assert [m["id"] for m in tail["items"]] == [ids[4]] and tail["next_after_id"] is None


@pytest.mark.parametrize(
    ("body", "status"),
    [("", 422), ("   \n\t ", 422), ("x" * 4001, 422), ("  " + "x" * 4000 + "  ", 201), ("a\x00b", 422)],
)
async def test_a_message_is_trimmed_and_holds_1_to_4000_characters(
    request_id: int, caller: Callers, body: str, status: int
) -> None:
    response = await (await caller("requesting")).post(thread(request_id), json={"body": body})
    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["body"] == "x" * 4000


async def test_courts_that_may_not_see_the_request_get_404_on_every_thread_endpoint(
    request_id: int, caller: Callers
) -> None:
    first = await (await caller("requesting")).post(thread(request_id), json={"body": "hello"})
    message_id = first.json()["id"]
    base = f"/api/v1/assistance-requests/{request_id}"
    for who in ("unrelated", "unrelated_staff"):
        c = await caller(who)
        calls = [
            await c.get(base + "/messages"),
            await c.post(base + "/messages", json={"body": "hi"}),
            await c.post(base + "/messages/read", json={"last_message_id": message_id}),
            await c.get(base + "/attachments"),
            await c.post(
                base + "/attachments",
                files={"file": ("a.pdf", b"%PDF-1.4\n%%EOF\n")},
                data={"purpose": "material"},
            ),
            await c.get(base + "/attachments/1"),
            await c.get(base + "/timeline"),
        ]
        assert [r.status_code for r in calls] == [404] * len(calls), [r.text for r in calls]
        # Exactly the answer for a request that does not exist: nothing to learn from probing.
        assert calls[0].json()["error"]["message"] == (
            await c.get("/api/v1/assistance-requests/99999999/messages")
        ).json()["error"]["message"].replace("99999999", str(request_id))


async def test_a_court_system_token_of_the_target_court_posts_to_the_thread(
    request_id: int, make_token: Any, app: Any
) -> None:
    from tests.conftest import new_client

    token = await make_token(TARGET)
    async with new_client(app) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        response = await c.post(thread(request_id), json={"body": "系统回执：已收到"})
        assert response.status_code == 201, response.text
        assert response.json()["author_court"] == TARGET
        assert response.json()["author"].startswith("token:")
        assert (await c.get(thread(request_id))).json()["total"] == 1


async def test_a_posted_message_is_audited_without_its_text_and_announced_masked(
    request_id: int, caller: Callers, test_db: Any
) -> None:
    id_number = resident_id()
    body = f"被执行人身份证号{id_number}，电话13812345678"
    response = await (await caller("requesting")).post(thread(request_id), json={"body": body})
    assert response.status_code == 201
    message_id = response.json()["id"]

    [entry] = await audit_entries(test_db, request_id, "assistance.message_posted")
    assert entry.details == {"message_id": message_id, "length": len(body)}
    assert entry.actor_court == REQUESTING and entry.outcome == "success"

    rows = await events(test_db, "assistance:message_posted")
    assert {r.room for r in rows} == {
        f"request:{request_id}",
        f"court:{REQUESTING}",
        f"court:{TARGET}",
        f"court:{SUPERVISING}",
    }
    assert len({r.event_id for r in rows}) == 1
    payload = rows[0].payload
    assert payload["request_id"] == request_id and payload["message_id"] == message_id
    assert payload["author_court"] == REQUESTING and payload["author_name"]
    assert payload["created_at"]
    assert id_number not in payload["body"] and "13812345678" not in payload["body"]
    assert payload["body"] == "被执行人身份证号3301**********" + id_number[-4:] + "，电话138****5678"

    # The record itself keeps the text: the courts on the request read it in full.
    for who in ("requesting", "target", "supervising"):
        listed = (await (await caller(who)).get(thread(request_id))).json()
        assert listed["items"][0]["body"] == body


async def test_read_marks_are_kept_per_court_and_never_move_backwards(
    request_id: int, caller: Callers, test_db: Any
) -> None:
    ids = []
    for n in range(4):
        ids.append(
            (await (await caller("requesting")).post(thread(request_id), json={"body": f"m{n}"})).json()["id"]
        )

    async def mark(who: str, message_id: int) -> dict[str, Any]:
        response = await (await caller(who)).post(
            thread(request_id) + "/read", json={"last_message_id": message_id}
        )
        assert response.status_code == 200, response.text
        return response.json()

    assert (await mark("target", ids[2]))["last_message_id"] == ids[2]
    assert (await mark("target", ids[0]))["last_message_id"] == ids[2]  # backwards: ignored
    assert (await mark("target", ids[2]))["last_message_id"] == ids[2]
    assert (await mark("supervising", ids[1])) == {
        "request_id": request_id,
        "court": SUPERVISING,
        "last_message_id": ids[1],
        "read_at": (await mark("supervising", ids[1]))["read_at"],
    }
    assert (await mark("target", ids[3]))["last_message_id"] == ids[3]

    listed = (await (await caller("requesting")).get(thread(request_id))).json()
    assert listed["read"] == {TARGET: ids[3], SUPERVISING: ids[1]}

    # One event per move forward, to the request's room only.
    rows = await events(test_db, "assistance:thread_read")
    assert [(r.room, r.payload["court"], r.payload["last_message_id"]) for r in rows] == [
        (f"request:{request_id}", TARGET, ids[2]),
        (f"request:{request_id}", SUPERVISING, ids[1]),
        (f"request:{request_id}", TARGET, ids[3]),
    ]


async def test_a_read_mark_must_name_a_message_of_the_same_thread(request_id: int, caller: Callers) -> None:
    response = await (await caller("target")).post(
        thread(request_id) + "/read", json={"last_message_id": 123456789}
    )
    assert response.status_code == 422
    assert "not in the thread" in response.json()["error"]["message"]


async def test_the_service_layer_enforces_the_same_rules_for_socket_callers(
    request_id: int, session: Any, principal_of: Any, court_directory: Any
) -> None:
    target = principal_of(TARGET, "officer")
    message = await messages.post_message(
        session, principal=target, directory=court_directory, request_id=request_id, body="  来自现场  "
    )
    assert message.body == "来自现场" and message.author_court == TARGET
    with pytest.raises(InvalidInput):
        await messages.post_message(
            session, principal=target, directory=court_directory, request_id=request_id, body=" "
        )
    with pytest.raises(NotFound):
        await messages.post_message(
            session,
            principal=principal_of(UNRELATED),
            directory=court_directory,
            request_id=request_id,
            body="x",
        )
    mark = await messages.mark_read(
        session,
        principal=target,
        directory=court_directory,
        request_id=request_id,
        last_message_id=message.id,
    )
    assert mark.advanced and mark.last_message_id == message.id
    again = await messages.mark_read(
        session,
        principal=target,
        directory=court_directory,
        request_id=request_id,
        last_message_id=message.id,
    )
    assert not again.advanced
    page = await messages.list_messages(
        session,
        principal=principal_of(SUPERVISING, "command_staff"),
        directory=court_directory,
        request_id=request_id,
    )
    assert [m.id for m in page.items] == [message.id] and page.read == {TARGET: message.id}
