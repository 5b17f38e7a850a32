"""Filing, reading and listing enforcement cases through the service layer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.cases import service
from assistance.cases.models import CaseParty, EnforcementCase
from assistance.cases.schemas import CaseCreate
from assistance.cases.validation import today_in_china
from assistance.enums import (
    CasePriority,
    CaseStatus,
    DeadlineKind,
    DeadlineState,
    MatterType,
    PartyKind,
    RequestStatus,
    Urgency,
)
from assistance.requests.models import AssistanceRequest, Deadline
from command_center.audit import service as audit
from command_center.audit.models import AuditEntry
from command_center.calendar import LegalCalendar, YearSchedule
from command_center.calendar.periods import SHANGHAI
from command_center.calendar.schedule import package_schedules
from command_center.courts.directory import CourtDirectory
from command_center.errors import Conflict, Forbidden, InvalidInput, NotFound
from command_center.identity import service as identity
from command_center.identity.principal import Principal
from command_center.outbox.models import OutboxEvent
from tests.conftest import DEMO_PASSWORD

XIHU = "330106"  # 杭州市西湖区人民法院 (浙0106)
GONGSHU = "330105"  # its sibling under Hangzhou
HANGZHOU = "330100"
ZHEJIANG = "330000"
SPC = "000000"
CHAOYANG = "110105"  # Beijing, another province


@pytest.fixture
def create(
    session: AsyncSession, court_directory: CourtDirectory, legal_calendar: LegalCalendar
) -> Callable[..., Any]:
    async def run(principal: Principal, body: dict[str, Any], *, calendar: LegalCalendar | None = None):
        return await service.create_case(
            session,
            principal=principal,
            directory=court_directory,
            calendar=calendar or legal_calendar,
            data=CaseCreate.model_validate(body),
        )

    return run


async def count_rows(session: AsyncSession) -> dict[str, int]:
    counts = {}
    for model in (EnforcementCase, CaseParty, Deadline, AuditEntry, OutboxEvent):
        counts[model.__tablename__] = await session.scalar(sa.select(sa.func.count()).select_from(model))
    return counts


# --- filing ----------------------------------------------------------------------------------------


async def test_a_clerk_files_a_case_with_its_parties_and_case_clock(
    session: AsyncSession, create, case_body, principal_of
) -> None:
    body = case_body(XIHU, category="wages", respondents=["person", "organization"])
    body["case_number"] = body["case_number"].replace("(", "（").replace(")", "）")
    case = await create(principal_of(XIHU), body)

    assert case.id is not None and case.court_code == XIHU
    assert case.case_number.startswith("(2026)浙0106执")
    assert case.status is CaseStatus.open and case.amount_recovered == 0
    assert case.priority is CasePriority.high  # wages: a livelihood case
    parties = await service.parties(session, case_id=case.id)
    assert [p.role.value for p in parties] == ["applicant", "respondent", "respondent"]
    assert [p.kind for p in parties] == [PartyKind.organization, PartyKind.person, PartyKind.organization]
    assert [p.id_number for p in parties] == [body["applicant"]["id_number"]] + [
        r["id_number"] for r in body["respondents"]
    ]
    deadline = await service.case_deadline(session, case_id=case.id)
    assert (
        deadline is not None
        and deadline.kind is DeadlineKind.case
        and deadline.state is DeadlineState.pending
    )
    assert deadline.started_on == date(2026, 3, 2) and deadline.due_on == date(2026, 9, 2)
    assert "法释〔2011〕11号" in deadline.rule


async def test_a_commercial_case_has_normal_priority(create, case_body, principal_of) -> None:
    case = await create(principal_of(XIHU, "officer"), case_body(XIHU, category="commercial"))
    assert case.priority is CasePriority.normal


@pytest.mark.parametrize("role", ["clerk", "officer", "admin"])
async def test_clerks_officers_and_admins_of_the_filing_court_may_file(
    role, create, case_body, principal_of
) -> None:
    case = await create(principal_of(XIHU, role), case_body(XIHU))
    assert case.created_by.startswith("user:")


async def test_a_court_systems_token_files_for_its_own_court(create, case_body, principal_of) -> None:
    token = principal_of(XIHU, kind="token")
    case = await create(token, case_body(XIHU))
    assert case.created_by == token.label


async def test_the_court_defaults_to_the_callers(create, case_body, principal_of) -> None:
    body = case_body(XIHU)
    del body["court"]
    case = await create(principal_of(XIHU, kind="token"), body)
    assert case.court_code == XIHU


async def test_command_staff_do_not_file_cases(session, create, case_body, principal_of) -> None:
    before = await count_rows(session)
    with pytest.raises(Forbidden):
        await create(principal_of(XIHU, "command_staff"), case_body(XIHU))
    assert await count_rows(session) == before


@pytest.mark.parametrize(
    ("caller_court", "kind"), [(GONGSHU, "user"), (HANGZHOU, "user"), (GONGSHU, "token")]
)
async def test_nobody_files_a_case_for_another_court(
    caller_court, kind, create, case_body, principal_of
) -> None:
    with pytest.raises(Forbidden):
        await create(principal_of(caller_court, kind=kind), case_body(XIHU))


async def test_a_duplicate_case_number_is_a_conflict(session, create, case_body, principal_of) -> None:
    body = case_body(XIHU)
    first = await create(principal_of(XIHU), body)
    before = await count_rows(session)
    again = case_body(XIHU, case_number=body["case_number"].replace("(", "（").replace(")", "）"))
    with pytest.raises(Conflict) as caught:
        await create(principal_of(XIHU), again)
    assert caught.value.message == "a case with this number already exists"
    assert caught.value.details["case_id"] == first.id
    assert await count_rows(session) == before


async def test_nothing_is_written_when_a_field_is_invalid(session, create, case_body, principal_of) -> None:
    before = await count_rows(session)
    body = case_body(XIHU, respondents=2)
    good = body["respondents"][1]["id_number"]
    body["respondents"][1]["id_number"] = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(InvalidInput) as caught:
        await create(principal_of(XIHU), body)
    assert caught.value.message == f"respondents[1].id_number: the check digit is wrong (expected {good[17]})"
    assert caught.value.details == [
        {"field": "respondents[1].id_number", "message": f"the check digit is wrong (expected {good[17]})"}
    ]
    assert await count_rows(session) == before


async def test_a_person_with_a_credit_code_is_refused(create, case_body, principal_of) -> None:
    body = case_body(XIHU, respondents=[{"kind": "person", "id_number": "91350100M000100Y43"}])
    with pytest.raises(InvalidInput) as caught:
        await create(principal_of(XIHU), body)
    assert caught.value.details[0]["field"] == "respondents[0].id_number"
    assert "not a unified social credit code" in caught.value.message


async def test_an_organization_with_a_resident_id_is_refused(create, case_body, principal_of) -> None:
    body = case_body(XIHU, applicant={"kind": "organization", "id_number": "11010519491231002X"})
    with pytest.raises(InvalidInput) as caught:
        await create(principal_of(XIHU), body)
    assert caught.value.details[0]["field"] == "applicant.id_number"


async def test_a_filing_date_in_the_future_is_refused(create, case_body, principal_of) -> None:
    tomorrow = today_in_china() + timedelta(days=1)
    body = case_body(XIHU, filed_on=tomorrow, case_number=f"({tomorrow.year})浙0106执9001号")
    with pytest.raises(InvalidInput) as caught:
        await create(principal_of(XIHU), body)
    assert [d["field"] for d in caught.value.details] == ["filed_on"]


async def test_the_assigned_officer_must_be_an_officer_of_the_filing_court(
    session, create, case_body, principal_of
) -> None:
    officer = await identity.create_user(
        session, username="officer_xihu_case", password=DEMO_PASSWORD, role="officer", court_code=XIHU
    )
    elsewhere = await identity.create_user(
        session, username="officer_gongshu_case", password=DEMO_PASSWORD, role="officer", court_code=GONGSHU
    )
    case = await create(principal_of(XIHU), case_body(XIHU, officer_id=officer.id))
    assert case.officer_id == officer.id
    for officer_id in (elsewhere.id, 10_000_000):
        with pytest.raises(InvalidInput) as caught:
            await create(principal_of(XIHU), case_body(XIHU, officer_id=officer_id))
        assert caught.value.details[0]["field"] == "officer_id"


# --- the six-month case clock -----------------------------------------------------------------------


async def test_the_case_clock_ends_on_the_corresponding_day_six_months_later(
    session, create, case_body, principal_of
) -> None:
    # Civil Code art. 202: 31 March + 6 months = 30 September 2026, a Wednesday and a working day.
    case = await create(principal_of(XIHU), case_body(XIHU, filed_on=date(2026, 3, 31)))
    deadline = await service.case_deadline(session, case_id=case.id)
    assert deadline.due_on == date(2026, 9, 30) and deadline.due_on.weekday() == 2
    assert not deadline.provisional
    assert deadline.ends_at == datetime(2026, 10, 1, tzinfo=SHANGHAI)


async def test_a_case_clock_ending_in_a_year_without_a_schedule_is_provisional_until_one_is_loaded(
    session, create, case_body, principal_of
) -> None:
    # 31 August 2026 + 6 months: February 2027 has no 31st, so its last day, the 28th (art. 202) —
    # a Sunday, so the period ends on Monday 1 March (art. 203). chinesecalendar has no 2027 schedule.
    case = await create(principal_of(XIHU), case_body(XIHU, filed_on=date(2026, 8, 31)))
    deadline = await service.case_deadline(session, case_id=case.id)
    assert deadline.due_on == date(2027, 3, 1) and deadline.provisional

    schedule_2027 = YearSchedule(
        2027, {date(2027, 1, 1): "元旦"}, {}, "国务院办公厅关于2027年部分节假日安排的通知"
    )
    calendar = LegalCalendar([*package_schedules(), schedule_2027])
    case = await create(principal_of(XIHU), case_body(XIHU, filed_on=date(2026, 8, 31)), calendar=calendar)
    deadline = await service.case_deadline(session, case_id=case.id)
    assert deadline.due_on == date(2027, 3, 1) and not deadline.provisional


# --- audit and events -------------------------------------------------------------------------------


async def test_filing_is_audited_and_announced_without_personal_data(
    session, create, case_body, principal_of
) -> None:
    body = case_body(XIHU, category="alimony_support", respondents=["person"])
    case = await create(principal_of(XIHU), body)

    [entry] = await audit.list_for_subject(session, subject_type="case", subject_id=str(case.id))
    assert entry.action == "case.created" and entry.outcome == "success"
    assert entry.details["case_number"] == case.case_number and entry.details["respondents"] == 1
    assert (await audit.verify(session)).ok

    events = (
        (
            await session.execute(
                sa.select(OutboxEvent).where(OutboxEvent.name == "case:created").order_by(OutboxEvent.room)
            )
        )
        .scalars()
        .all()
    )
    events = [e for e in events if e.payload["id"] == case.id]
    assert sorted(e.room for e in events) == sorted(
        [f"court:{XIHU}", f"subtree:{XIHU}", f"subtree:{HANGZHOU}", f"subtree:{ZHEJIANG}", f"subtree:{SPC}"]
    )
    assert events[0].payload == {
        "id": case.id,
        "case_number": case.case_number,
        "court": XIHU,
        "category": "alimony_support",
        "livelihood": True,
        "amount_claimed": body["amount_claimed"],
    }
    written = repr([e.payload for e in events]) + repr(entry.details)
    for party in (body["applicant"], *body["respondents"]):
        assert party["id_number"] not in written and party["name"] not in written


# --- reading: who sees a case -----------------------------------------------------------------------


async def _request_on(
    session: AsyncSession, case_id: int, subject_id: int, *, target: str, supervisor: str
) -> None:
    session.add(
        AssistanceRequest(
            case_id=case_id,
            requesting_court=XIHU,
            target_court=target,
            supervising_court=supervisor,
            matter_type=MatterType.investigate_property,
            subject_id=subject_id,
            region_code=target,
            address="朝阳区某街道1号",
            urgency=Urgency.normal,
            description="查询被执行人财产",
            materials=["ruling", "assistance_notice"],
            status=RequestStatus.routed,
            created_by="user:clerk",
            routed_on=date(2026, 3, 3),
        )
    )
    await session.flush()


@pytest.mark.parametrize(
    ("court", "role", "visible"),
    [
        (XIHU, "clerk", True),
        (XIHU, "command_staff", True),
        (HANGZHOU, "command_staff", True),  # the subtree of a superior command center
        (ZHEJIANG, "command_staff", True),
        (SPC, "command_staff", True),
        (HANGZHOU, "clerk", False),  # a superior court's clerk sees their own court only
        (GONGSHU, "command_staff", False),
        (CHAOYANG, "officer", False),
    ],
)
async def test_a_case_is_visible_to_its_filing_courts_scope_only(
    session, court_directory, make_case, principal_of, court, role, visible
) -> None:
    record = await make_case(XIHU, session=session)
    principal = principal_of(court, role)
    if visible:
        found = await service.get_visible_case(
            session, principal=principal, directory=court_directory, case_id=record.case.id
        )
        assert found.id == record.case.id
    else:
        with pytest.raises(NotFound):
            await service.get_visible_case(
                session, principal=principal, directory=court_directory, case_id=record.case.id
            )


async def test_the_target_and_supervising_courts_of_a_request_on_the_case_see_it(
    session, court_directory, make_case, principal_of
) -> None:
    record = await make_case(XIHU, session=session)
    target_officer, supervisor = principal_of(CHAOYANG, "officer"), principal_of(SPC, "clerk")
    other = principal_of("110101", "officer")
    for principal in (target_officer, supervisor, other):
        assert not await service.case_is_visible(
            session, principal=principal, directory=court_directory, case=record.case
        )
    await _request_on(session, record.case.id, record.respondents[0].id, target=CHAOYANG, supervisor=SPC)
    for principal in (target_officer, supervisor):
        assert await service.case_is_visible(
            session, principal=principal, directory=court_directory, case=record.case
        )
    assert not await service.case_is_visible(
        session, principal=other, directory=court_directory, case=record.case
    )


async def test_a_missing_case_is_not_found(session, court_directory, principal_of) -> None:
    with pytest.raises(NotFound):
        await service.get_visible_case(
            session, principal=principal_of(SPC, "command_staff"), directory=court_directory, case_id=10**9
        )


# --- listing ----------------------------------------------------------------------------------------


async def test_listing_is_scoped_newest_first_and_pages_stably(
    session, court_directory, make_case, principal_of
) -> None:
    mine = [(await make_case(XIHU, session=session)).case.id for _ in range(5)]
    await make_case(GONGSHU, session=session)
    await make_case(CHAOYANG, session=session)
    clerk = principal_of(XIHU)

    first, total = await service.list_cases(
        session, principal=clerk, directory=court_directory, page=1, page_size=2
    )
    second, _ = await service.list_cases(
        session, principal=clerk, directory=court_directory, page=2, page_size=2
    )
    third, _ = await service.list_cases(
        session, principal=clerk, directory=court_directory, page=3, page_size=2
    )
    assert total == 5
    assert [c.id for c in first + second + third] == sorted(mine, reverse=True)

    hangzhou_staff = principal_of(HANGZHOU, "command_staff")
    cases, total = await service.list_cases(
        session, principal=hangzhou_staff, directory=court_directory, page_size=50
    )
    assert total == 6 and {c.court_code for c in cases} == {XIHU, GONGSHU}
    spc_staff = principal_of(SPC, "command_staff")
    _, total = await service.list_cases(session, principal=spc_staff, directory=court_directory)
    assert total == 7


async def test_listing_searches_case_numbers_and_party_names_and_filters(
    session, court_directory, make_case, principal_of
) -> None:
    wages = await make_case(XIHU, session=session, category="wages", respondents=[{"name": "欧阳娜娜"}])
    loan = await make_case(
        XIHU, session=session, category="loan", applicant={"name": "杭州某某小额贷款有限公司"}
    )
    clerk = principal_of(XIHU)

    async def ids(**kw: Any) -> list[int]:
        cases, total = await service.list_cases(session, principal=clerk, directory=court_directory, **kw)
        assert total == len(cases)
        return [c.id for c in cases]

    assert await ids(q="欧阳") == [wages.case.id]
    assert await ids(q="小额贷款") == [loan.case.id]
    number = loan.case.case_number
    assert await ids(q=number.replace("(", "（").replace(")", "）")) == [loan.case.id]
    assert await ids(q="100%_") == []
    assert await ids(category="wages") == [wages.case.id]
    assert await ids(livelihood=True) == [wages.case.id]
    assert await ids(livelihood=False) == [loan.case.id]
    assert await ids(status="concluded") == []
    assert await ids(status="open") == [loan.case.id, wages.case.id]


async def test_records_bring_parties_and_clocks_for_a_whole_page(session, make_case) -> None:
    made = [await make_case(XIHU, session=session, respondents=n) for n in (1, 3)]
    found = await service.records(session, cases=[m.case for m in reversed(made)])
    assert [r.case.id for r in found] == [made[1].case.id, made[0].case.id]
    assert [len(r.respondents) for r in found] == [3, 1]
    assert all(r.deadline is not None and r.applicant.role.value == "applicant" for r in found)


async def test_a_respondent_belongs_to_its_case_only(session, make_case) -> None:
    first, second = await make_case(XIHU, session=session), await make_case(XIHU, session=session)
    respondent = first.respondents[0]
    assert (
        await service.get_respondent(session, case_id=first.case.id, party_id=respondent.id)
    ).id == respondent.id
    assert await service.get_respondent(session, case_id=second.case.id, party_id=respondent.id) is None
    assert await service.get_respondent(session, case_id=first.case.id, party_id=first.applicant.id) is None
