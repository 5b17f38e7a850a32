"""Enforcement cases: filing a case with its parties and its six-month clock, reading and listing them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.cases.models import CaseParty, EnforcementCase
from assistance.cases.schemas import CaseCreate
from assistance.cases.validation import (
    Problems,
    check_new_case,
    normalize_case_number,
    today_in_china,
)
from assistance.enums import (
    LIVELIHOOD_CATEGORIES,
    CaseCategory,
    CasePriority,
    CaseStatus,
    DeadlineKind,
    PartyRole,
)
from assistance.requests.models import AssistanceRequest, Deadline
from command_center.audit import service as audit
from command_center.calendar import LegalCalendar, add_months
from command_center.courts.directory import CourtDirectory
from command_center.errors import Conflict, Forbidden, NotFound
from command_center.identity.models import User
from command_center.identity.principal import Principal, Role
from command_center.identity.visibility import court_scope
from command_center.outbox.service import record_event

CASE_CLOCK_MONTHS = 6
# 最高人民法院关于委托执行若干问题的规定 (法释〔2011〕11号): a case not concluded within six months of
# filing may be taken over or reassigned by the superior court at the applicant's request.
CASE_CLOCK_RULE = "法释〔2011〕11号: 6 months from filing"
FILING_ROLES = frozenset({Role.clerk, Role.officer, Role.admin})
DUPLICATE_NUMBER = "a case with this number already exists"
SUBJECT_TYPE = "case"


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """A case with everything its read model shows: parties (applicant first) and the case clock."""

    case: EnforcementCase
    parties: list[CaseParty]
    deadline: Deadline | None

    @property
    def applicant(self) -> CaseParty:
        return next(p for p in self.parties if p.role == PartyRole.applicant)

    @property
    def respondents(self) -> list[CaseParty]:
        return [p for p in self.parties if p.role == PartyRole.respondent]


def case_rooms(directory: CourtDirectory, court_code: str) -> list[str]:
    """The rooms that hear about a case: its court's, and the subtree room of the court and each superior."""
    lineage = [court_code, *(entry.code for entry in directory.ancestors(court_code))]
    return [f"court:{court_code}", *(f"subtree:{code}" for code in lineage)]


def _authorize_filing(principal: Principal, court_code: str) -> None:
    if principal.kind == "user" and principal.role not in FILING_ROLES:
        raise Forbidden(
            "Cases are filed by a clerk, officer or administrator of the filing court; "
            "command staff supervise them."
        )
    if court_code != principal.court_code:
        raise Forbidden("You may file cases for your own court only.", details={"court": court_code})


async def _officer_problem(session: AsyncSession, *, officer_id: int, court_code: str) -> str | None:
    row = (
        await session.execute(sa.select(User.court_code, User.role, User.active).where(User.id == officer_id))
    ).first()
    if row is None or not row.active or row.court_code != court_code or Role(row.role) is not Role.officer:
        return f"no active enforcement officer of court {court_code} has id {officer_id}"
    return None


async def get_by_case_number(session: AsyncSession, *, case_number: str) -> EnforcementCase | None:
    """The case with this number (full-width parentheses are accepted), or None."""
    stmt = sa.select(EnforcementCase).where(EnforcementCase.case_number == normalize_case_number(case_number))
    return (await session.execute(stmt)).scalar_one_or_none()


async def create_case(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    calendar: LegalCalendar,
    data: CaseCreate,
    today: date | None = None,
) -> EnforcementCase:
    """Files a case with its applicant, respondents and six-month case clock; audits `case.created` and
    records the `case:created` event for the court's and its superiors' rooms.

    403 unless the caller is a clerk, officer or admin (or the court system) of the filing court;
    422 naming every invalid field, with nothing written; 409 for a case number already filed.
    """
    court_code = data.court or principal.court_code
    _authorize_filing(principal, court_code)
    court = directory.require(court_code, field="court")
    today = today or today_in_china()
    data = check_new_case(data, court=court, today=today)
    if data.officer_id is not None:
        problem = await _officer_problem(session, officer_id=data.officer_id, court_code=court_code)
        if problem:
            problems = Problems()
            problems.add("officer_id", problem)
            problems.raise_if_any()

    existing = await get_by_case_number(session, case_number=data.case_number)
    if existing is not None:
        raise Conflict(DUPLICATE_NUMBER, details={"field": "case_number", "case_id": existing.id})

    category = CaseCategory(data.category)
    case = EnforcementCase(
        case_number=data.case_number,
        court_code=court_code,
        category=category,
        status=CaseStatus.open,
        # Livelihood cases (涉民生案件) are handled first.
        priority=CasePriority.high if category in LIVELIHOOD_CATEGORIES else CasePriority.normal,
        amount_claimed=data.amount_claimed,
        amount_recovered=0,
        officer_id=data.officer_id,
        filed_on=data.filed_on,
        created_by=principal.label,
    )
    try:
        # Two filings of one number at once (PostgreSQL): the unique index stops the second; the
        # savepoint keeps the caller's transaction usable for the 409.
        async with session.begin_nested():
            session.add(case)
            await session.flush()
    except IntegrityError:
        existing = await get_by_case_number(session, case_number=data.case_number)
        if existing is None:
            raise
        raise Conflict(DUPLICATE_NUMBER, details={"field": "case_number", "case_id": existing.id}) from None
    assert case.id is not None

    # The applicant first, so ordering parties by id lists it first.
    session.add(
        CaseParty(
            case_id=case.id,
            role=PartyRole.applicant,
            name=data.applicant.name,
            kind=data.applicant.kind,
            id_number=data.applicant.id_number,
        )
    )
    await session.flush()
    session.add_all(
        CaseParty(case_id=case.id, role=PartyRole.respondent, name=r.name, kind=r.kind, id_number=r.id_number)
        for r in data.respondents
    )
    period = add_months(calendar, data.filed_on, CASE_CLOCK_MONTHS)
    session.add(
        Deadline(
            subject_type=SUBJECT_TYPE,
            subject_id=case.id,
            kind=DeadlineKind.case,
            started_on=data.filed_on,
            due_on=period.deadline,
            ends_at=period.ends_at,
            provisional=period.provisional,
            rule=f"{CASE_CLOCK_RULE}; {period.rule}",
        )
    )
    await session.flush()

    summary = {
        "id": case.id,
        "case_number": case.case_number,
        "court": court_code,
        "category": category.value,
        "livelihood": category.is_livelihood,
        "amount_claimed": case.amount_claimed,
    }
    await record_event(session, name="case:created", rooms=case_rooms(directory, court_code), payload=summary)
    await audit.record(
        session,
        action="case.created",
        actor=principal,
        subject_type=SUBJECT_TYPE,
        subject_id=str(case.id),
        details={**summary, "filed_on": data.filed_on, "respondents": len(data.respondents)},
    )
    return case


async def get_case(session: AsyncSession, *, case_id: int) -> EnforcementCase | None:
    """The case with this id, whoever asks (callers authorize)."""
    return await session.get(EnforcementCase, case_id)


async def case_is_visible(
    session: AsyncSession, *, principal: Principal, directory: CourtDirectory, case: EnforcementCase
) -> bool:
    """True when the caller's court scope holds the filing court, or the target or supervising court of
    an assistance request on the case."""
    scope = court_scope(principal, directory)
    if scope.includes(case.court_code):
        return True
    stmt = (
        sa.select(sa.literal(1))
        .select_from(AssistanceRequest)
        .where(
            AssistanceRequest.case_id == case.id,
            sa.or_(
                scope.filter(AssistanceRequest.target_court),
                scope.filter(AssistanceRequest.supervising_court),
            ),
        )
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


async def get_visible_case(
    session: AsyncSession, *, principal: Principal, directory: CourtDirectory, case_id: int
) -> EnforcementCase:
    """The case if the caller may see it; 404 alike for a missing case and one the caller may not see."""
    case = await get_case(session, case_id=case_id)
    if case is None or not await case_is_visible(
        session, principal=principal, directory=directory, case=case
    ):
        raise NotFound(f"No case with id {case_id}.", details={"case_id": case_id})
    return case


async def list_cases(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    q: str | None = None,
    category: CaseCategory | None = None,
    livelihood: bool | None = None,
    status: CaseStatus | None = None,
    page: int = 1,
    page_size: int = 20,
) -> tuple[list[EnforcementCase], int]:
    """One page of the cases filed in the caller's court scope, newest first, and the total.

    `q` matches part of the case number or of a party's name. Cases seen only through an assistance
    request are listed by the request views, not here.
    """
    conditions: list[sa.ColumnElement[bool]] = [
        court_scope(principal, directory).filter(EnforcementCase.court_code)
    ]
    if q and q.strip():
        term = q.strip()
        party_match = (
            sa.select(sa.literal(1))
            .select_from(CaseParty)
            .where(CaseParty.case_id == EnforcementCase.id, CaseParty.name.contains(term, autoescape=True))
            .exists()
        )
        conditions.append(
            sa.or_(
                EnforcementCase.case_number.contains(normalize_case_number(term), autoescape=True),
                party_match,
            )
        )
    if category is not None:
        conditions.append(EnforcementCase.category == category)
    if livelihood is not None:
        livelihood_categories = sorted(LIVELIHOOD_CATEGORIES)
        conditions.append(
            EnforcementCase.category.in_(livelihood_categories)
            if livelihood
            else EnforcementCase.category.not_in(livelihood_categories)
        )
    if status is not None:
        conditions.append(EnforcementCase.status == status)

    total = await session.scalar(sa.select(sa.func.count()).select_from(EnforcementCase).where(*conditions))
    stmt = (
        sa.select(EnforcementCase)
        .where(*conditions)
        .order_by(EnforcementCase.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return list((await session.execute(stmt)).scalars().all()), int(total or 0)


async def parties(session: AsyncSession, *, case_id: int) -> list[CaseParty]:
    """The case's parties: the applicant, then the respondents in the order they were filed."""
    stmt = sa.select(CaseParty).where(CaseParty.case_id == case_id).order_by(CaseParty.id)
    return list((await session.execute(stmt)).scalars().all())


async def get_party(session: AsyncSession, *, party_id: int) -> CaseParty | None:
    """The party with this id, whoever asks (callers authorize)."""
    return await session.get(CaseParty, party_id)


async def get_respondent(session: AsyncSession, *, case_id: int, party_id: int) -> CaseParty | None:
    """The respondent `party_id` of case `case_id`, or None when it is not one of that case's respondents."""
    stmt = sa.select(CaseParty).where(
        CaseParty.id == party_id, CaseParty.case_id == case_id, CaseParty.role == PartyRole.respondent
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def case_deadline(session: AsyncSession, *, case_id: int) -> Deadline | None:
    """The case's six-month clock (the newest, should the case ever have been given another)."""
    stmt = (
        sa.select(Deadline)
        .where(
            Deadline.subject_type == SUBJECT_TYPE,
            Deadline.subject_id == case_id,
            Deadline.kind == DeadlineKind.case,
        )
        .order_by(Deadline.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def records(session: AsyncSession, *, cases: Sequence[EnforcementCase]) -> list[CaseRecord]:
    """The cases with their parties and case clocks, in the order given (two queries for any number)."""
    ids = [case.id for case in cases if case.id is not None]
    if not ids:
        return []
    by_case: dict[int, list[CaseParty]] = {case_id: [] for case_id in ids}
    party_rows = await session.execute(
        sa.select(CaseParty).where(CaseParty.case_id.in_(ids)).order_by(CaseParty.case_id, CaseParty.id)
    )
    for party in party_rows.scalars():
        by_case[party.case_id].append(party)
    deadlines: dict[int, Deadline] = {}
    deadline_rows = await session.execute(
        sa.select(Deadline)
        .where(
            Deadline.subject_type == SUBJECT_TYPE,
            Deadline.subject_id.in_(ids),
            Deadline.kind == DeadlineKind.case,
        )
        .order_by(Deadline.id)
    )
    for deadline in deadline_rows.scalars():
        deadlines[deadline.subject_id] = deadline  # the newest wins
    return [
        CaseRecord(case, by_case[case.id], deadlines.get(case.id)) for case in cases if case.id is not None
    ]
