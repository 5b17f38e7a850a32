"""The room policy, a security boundary: a client may be only in rooms its user may see."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest

from assistance.cases.models import CaseParty, EnforcementCase
from assistance.enums import CaseCategory, MatterType, PartyKind, PartyRole, RequestStatus, Urgency
from assistance.requests.models import AssistanceRequest
from command_center.identity.principal import Principal, Role
from realtime.rooms import automatic_rooms, may_join, parse_room, refusal

XIHU, GONGSHU, HAISHU = "330106", "330105", "330203"
HANGZHOU, NINGBO, ZHEJIANG = "330100", "330200", "330000"
BEIJING_HIGH, CHAOYANG = "110000", "110105"
_ids = itertools.count(700_000)


def user(court: str, role: str = "clerk") -> Principal:
    n = next(_ids)
    return Principal(kind="user", id=n, name=f"{role}_{n}", court_code=court, role=Role(role), session_id=n)


def system(court: str) -> Principal:
    n = next(_ids)
    return Principal(kind="token", id=n, name=f"system-{n}", court_code=court, role=Role.clerk)


async def make_request(session: Any, *, requesting: str, target: str, supervising: str) -> AssistanceRequest:
    n = next(_ids)
    case = EnforcementCase(
        case_number=f"(2026)浙0106执{n}号",
        court_code=requesting,
        category=CaseCategory.wages,
        amount_claimed=100_000,
        filed_on=date(2026, 1, 5),
        created_by="user:test",
    )
    session.add(case)
    await session.flush()
    party = CaseParty(
        case_id=case.id,
        role=PartyRole.respondent,
        name="某公司",
        kind=PartyKind.organization,
        id_number="91330106MA27XXXX1X",
    )
    session.add(party)
    await session.flush()
    request = AssistanceRequest(
        case_id=case.id,
        requesting_court=requesting,
        target_court=target,
        supervising_court=supervising,
        matter_type=MatterType.investigate_property,
        subject_id=party.id,
        region_code=target,
        address="某路1号",
        urgency=Urgency.normal,
        description="查询存款",
        materials=[],
        status=RequestStatus.routed,
        created_by="user:test",
        routed_on=date(2026, 1, 6),
    )
    session.add(request)
    await session.flush()
    return request


@pytest.fixture
def directory(services: Any) -> Any:
    return services.directory


@pytest.mark.parametrize(
    "name",
    [
        "",
        "court",
        "court:",
        "court:33010",
        "court:3301066",
        "court:abc",
        "request:x",
        "request:-1",
        "foo:1",
        "court:330106:extra",
        " court:330106",
        "COURT:330106",
        "user:1 ",
        "request:12345678901234",
        "request:05",
        "request:0",
        "user:2147483648",
    ],
)
async def test_a_malformed_room_name_is_refused(session: Any, directory: Any, name: str) -> None:
    assert parse_room(name) is None
    assert not await may_join(session, user(XIHU, "command_staff"), directory, name)


async def test_a_court_user_or_system_may_join_its_own_court_only(session: Any, directory: Any) -> None:
    for principal in (user(XIHU), user(XIHU, "officer"), user(XIHU, "admin"), system(XIHU)):
        assert await may_join(session, principal, directory, f"court:{XIHU}")
        for other in (GONGSHU, HANGZHOU, ZHEJIANG, CHAOYANG):
            assert not await may_join(session, principal, directory, f"court:{other}")
        assert not await may_join(session, principal, directory, f"subtree:{XIHU}")


async def test_command_staff_may_join_every_court_and_subtree_within_their_scope_and_nothing_outside(
    session: Any, directory: Any
) -> None:
    staff = user(ZHEJIANG, "command_staff")
    for code in (ZHEJIANG, HANGZHOU, XIHU, NINGBO, HAISHU):
        assert await may_join(session, staff, directory, f"court:{code}")
        assert await may_join(session, staff, directory, f"subtree:{code}")
    for code in (BEIJING_HIGH, CHAOYANG, directory.supreme.code):
        assert not await may_join(session, staff, directory, f"court:{code}")
        assert not await may_join(session, staff, directory, f"subtree:{code}")
    basic_staff = user(XIHU, "command_staff")
    assert await may_join(session, basic_staff, directory, f"subtree:{XIHU}")
    assert not await may_join(session, basic_staff, directory, f"subtree:{HANGZHOU}")
    assert not await may_join(session, basic_staff, directory, f"court:{GONGSHU}")
    supreme = user(directory.supreme.code, "command_staff")
    for code in (ZHEJIANG, CHAOYANG, directory.supreme.code):
        assert await may_join(session, supreme, directory, f"subtree:{code}")
    assert not await may_join(session, staff, directory, "court:999999")  # not in the directory


async def test_a_users_room_is_that_users_alone(session: Any, directory: Any) -> None:
    clerk, staff = user(XIHU), user(ZHEJIANG, "command_staff")
    assert await may_join(session, clerk, directory, f"user:{clerk.id}")
    assert not await may_join(session, staff, directory, f"user:{clerk.id}")
    token = system(XIHU)
    assert not await may_join(session, token, directory, f"user:{token.id}")  # a token is not a user


async def test_a_request_room_is_for_the_requesting_target_and_supervising_courts_scopes(
    session: Any, directory: Any
) -> None:
    request = await make_request(session, requesting=XIHU, target=HAISHU, supervising=ZHEJIANG)
    room = f"request:{request.id}"
    allowed = [
        user(XIHU),
        system(XIHU),
        user(HAISHU, "officer"),
        user(ZHEJIANG, "command_staff"),
        user(HANGZHOU, "command_staff"),  # the requester is in its subtree
        user(NINGBO, "command_staff"),  # the target is in its subtree
        user(directory.supreme.code, "command_staff"),
    ]
    refused = [
        user(GONGSHU),
        system(CHAOYANG),
        user(BEIJING_HIGH, "command_staff"),
        user(ZHEJIANG),  # a clerk of the supervising court sees its own court only... which supervises
        user(HANGZHOU),  # a clerk of an intermediate court above the requester sees only its own court
    ]
    for principal in allowed:
        assert await may_join(session, principal, directory, room), principal
    for principal in refused[:3] + refused[4:]:
        assert not await may_join(session, principal, directory, room), principal
    # The supervising court itself is a party to the request: its clerk may follow it.
    assert await may_join(session, refused[3], directory, room)


async def test_a_refusal_does_not_reveal_whether_a_request_exists(session: Any, directory: Any) -> None:
    request = await make_request(session, requesting=XIHU, target=HAISHU, supervising=ZHEJIANG)
    stranger = user(CHAOYANG)
    assert await refusal(session, stranger, directory, f"request:{request.id}") == await refusal(
        session, stranger, directory, "request:999999999"
    )


async def test_a_campaign_room_is_for_those_who_may_see_the_campaign(session: Any, directory: Any) -> None:
    from assistance.campaigns.models import Campaign

    campaign = Campaign(
        name="春节前欠薪专项",
        creator_court=HANGZHOU,
        created_by="user:test",
        window_start=date(2026, 1, 5),
        window_end=date(2026, 2, 10),
        criteria={"categories": ["wages"]},
    )
    session.add(campaign)
    await session.flush()
    room = f"campaign:{campaign.id}"
    assert await may_join(session, user(HANGZHOU, "command_staff"), directory, room)
    assert await may_join(session, user(ZHEJIANG, "command_staff"), directory, room)
    assert not await may_join(session, user(BEIJING_HIGH, "command_staff"), directory, room)
    assert not await may_join(session, user(NINGBO, "command_staff"), directory, room)
    assert not await may_join(session, user(ZHEJIANG, "command_staff"), directory, "campaign:999999")


def test_a_client_starts_in_its_court_its_subtree_for_command_staff_and_its_own_room() -> None:
    clerk, staff, token = user(XIHU), user(ZHEJIANG, "command_staff"), system(XIHU)
    assert automatic_rooms(clerk) == [f"court:{XIHU}", f"user:{clerk.id}"]
    assert automatic_rooms(staff) == [f"court:{ZHEJIANG}", f"subtree:{ZHEJIANG}", f"user:{staff.id}"]
    assert automatic_rooms(token) == [f"court:{XIHU}"]
