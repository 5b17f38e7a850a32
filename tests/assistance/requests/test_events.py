"""Who hears about a request (a security boundary) and what the events say (no personal data)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from assistance.requests.events import request_rooms
from command_center.identity.principal import Principal, Role
from command_center.identity.visibility import court_scope
from command_center.outbox.models import OutboxEvent
from tests.assistance.requests.conftest import ABOVE, REQUESTER, SUPERVISOR, TARGET, UNRELATED


def test_rooms_are_the_involved_courts_their_superiors_subtrees_and_the_request(court_directory: Any) -> None:
    rooms = request_rooms(court_directory, request_id=7, courts=[REQUESTER, TARGET, SUPERVISOR])
    assert rooms == sorted(
        [
            "request:7",
            f"court:{REQUESTER}",
            f"court:{TARGET}",
            f"court:{SUPERVISOR}",
            f"subtree:{REQUESTER}",
            f"subtree:{TARGET}",
            f"subtree:{SUPERVISOR}",
            f"subtree:{ABOVE}",
            "subtree:000000",
        ]
    )


def test_an_unrelated_courts_rooms_never_appear(court_directory: Any) -> None:
    rooms = request_rooms(court_directory, request_id=7, courts=[REQUESTER, TARGET, SUPERVISOR])
    for court in (UNRELATED, "320100", "320000", "330108", "330200"):
        assert f"court:{court}" not in rooms
        assert f"subtree:{court}" not in rooms
    # No court of another province, not even its high court's subtree room.
    assert not [room for room in rooms if room.startswith(("court:32", "subtree:32", "court:11"))]


def test_every_room_belongs_to_a_court_that_may_see_the_request(court_directory: Any) -> None:
    rooms = request_rooms(court_directory, request_id=7, courts=[REQUESTER, TARGET, SUPERVISOR])
    for room in rooms:
        kind, _, code = room.partition(":")
        if kind == "request":
            continue
        # court:<c> is for everyone at court c; subtree:<c> for the command staff of c.
        role = Role.command_staff if kind == "subtree" else Role.clerk
        scope = court_scope(Principal("user", 1, "x", code, role), court_directory)
        assert any(scope.includes(c) for c in (REQUESTER, TARGET, SUPERVISOR)), room


def test_unknown_court_codes_get_no_rooms(court_directory: Any) -> None:
    assert request_rooms(court_directory, request_id=3, courts=["999999"]) == ["request:3"]


async def test_event_payloads_carry_no_personal_data(
    submit: Any, act: Any, session: Any, make_case: Any
) -> None:
    case = await make_case(REQUESTER, respondents=[{"kind": "person", "name": "李四"}])
    request = await submit(case=case, description="被执行人李四 手机13812345678")
    await act(request.id, "request_supplement", missing="请补充李四的身份证明")
    id_number = case.respondents[0].id_number

    payloads = (
        (
            await session.execute(
                sa.select(OutboxEvent.payload).where(OutboxEvent.room == f"request:{request.id}")
            )
        )
        .scalars()
        .all()
    )
    assert len(payloads) == 2
    for payload in payloads:
        text = repr(payload)
        assert "李四" not in text and id_number not in text and "13812345678" not in text
        assert "解放路" not in text  # no address either
        assert set(payload) >= {
            "id",
            "status",
            "version",
            "matter_type",
            "urgency",
            "requesting_court",
            "target_court",
            "supervising_court",
            "region_code",
            "case_number",
            "overdue",
        }
