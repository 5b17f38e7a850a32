"""The demo data set: every row is one the services could have written."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.cases.models import CaseParty, EnforcementCase
from assistance.cases.validation import case_number_problem, party_id_problem
from assistance.demo import DEMO_COURTS, load_demo_cases
from assistance.enums import LIVELIHOOD_CATEGORIES, DeadlineState, PartyKind, RequestStatus
from assistance.requests.deadlines import implied_pending_kinds
from assistance.requests.models import AssistanceRequest, Deadline
from command_center.audit import service as audit
from command_center.calendar import LegalCalendar
from command_center.courts.directory import CourtDirectory

TODAY = date(2026, 11, 20)


async def _load(session: AsyncSession, directory: CourtDirectory, calendar: LegalCalendar, seed: int = 7):
    return await load_demo_cases(
        session, directory=directory, calendar=calendar, cases=400, requests=100, seed=seed, today=TODAY
    )


async def test_demo_requests_are_in_every_state_with_the_deadlines_their_state_implies(
    session: AsyncSession, court_directory: CourtDirectory, legal_calendar: LegalCalendar
) -> None:
    result = await _load(session, court_directory, legal_calendar)
    assert result.cases == 400 and result.requests == 100

    requests = (await session.execute(sa.select(AssistanceRequest))).scalars().all()
    assert {RequestStatus(r.status) for r in requests} >= set(RequestStatus) - {RequestStatus.submitted}
    pending: dict[int, set[str]] = defaultdict(set)
    ids = [r.id for r in requests]
    rows = (
        await session.execute(
            sa.select(Deadline.subject_id, Deadline.kind, Deadline.state).where(
                Deadline.subject_type == "request", Deadline.subject_id.in_(ids)
            )
        )
    ).all()
    for subject_id, kind, state in rows:
        if state == DeadlineState.pending:
            pending[subject_id].add(kind)
    for request in requests:
        assert pending[request.id] == set(implied_pending_kinds(request.status)), request.status
    # Some are overdue: a pending deadline whose end has passed, or one that was missed.
    states = {state for _, _, state in rows}
    assert DeadlineState.met in states and DeadlineState.cancelled in states


async def test_demo_cases_have_valid_numbers_and_identities(
    session: AsyncSession, court_directory: CourtDirectory, legal_calendar: LegalCalendar
) -> None:
    await _load(session, court_directory, legal_calendar, seed=11)
    cases = (
        (await session.execute(sa.select(EnforcementCase).order_by(EnforcementCase.id.desc()).limit(400)))
        .scalars()
        .all()
    )
    for case in cases:
        problem = case_number_problem(
            case.case_number, court=court_directory.require(case.court_code), today=TODAY
        )
        assert problem is None, (case.case_number, problem)
    livelihood = sum(c.category in LIVELIHOOD_CATEGORIES for c in cases)
    assert 0.2 < livelihood / len(cases) < 0.5
    parties = (
        (await session.execute(sa.select(CaseParty).where(CaseParty.case_id.in_([c.id for c in cases]))))
        .scalars()
        .all()
    )
    assert {PartyKind(p.kind) for p in parties} == set(PartyKind)
    for party in parties:
        assert party_id_problem(PartyKind(party.kind), party.id_number, today=TODAY) is None, party.id_number


async def test_demo_audit_chain_verifies_and_the_demo_courts_see_requests_both_ways(
    session: AsyncSession, court_directory: CourtDirectory, legal_calendar: LegalCalendar
) -> None:
    result = await _load(session, court_directory, legal_calendar, seed=3)
    assert result.audit_entries >= result.cases + result.requests
    verdict = await audit.verify(session)
    assert verdict.ok, verdict
    for court in ("330106", "330105"):
        assert court in DEMO_COURTS
        incoming = await session.scalar(
            sa.select(sa.func.count())
            .select_from(AssistanceRequest)
            .where(AssistanceRequest.target_court == court)
        )
        outgoing = await session.scalar(
            sa.select(sa.func.count())
            .select_from(AssistanceRequest)
            .where(AssistanceRequest.requesting_court == court)
        )
        assert incoming and outgoing, court
