"""What a caller reads about a request: the full read model, and the masked list item.

Who reads a subject's ID number in full (issue "Enforcement cases"; a security boundary): the
requesting court, which filed the case, and the target court, which needs it to act. Supervising
courts and every list view and export read it masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.cases.disclosure import party_read
from assistance.cases.models import CaseParty, EnforcementCase
from assistance.requests import deadlines as clocks
from assistance.requests.lifecycle import allowed_actions
from assistance.requests.materials import material_names
from assistance.requests.models import AssistanceRequest, Deadline
from assistance.requests.schemas import (
    DeadlineRead,
    LocationRead,
    MaterialRead,
    NextDeadlineRead,
    RequestListItem,
    RequestRead,
)
from command_center.courts.models import CourtRead
from command_center.db import utcnow

if TYPE_CHECKING:
    from command_center.courts.directory import CourtDirectory
    from command_center.identity.principal import Principal


def may_read_subject_in_full(principal: Principal, request: AssistanceRequest) -> bool:
    """True for users and court systems of the requesting court and of the target court."""
    return principal.court_code in (request.requesting_court, request.target_court)


def court_read(directory: CourtDirectory, code: str) -> CourtRead:
    return CourtRead.model_validate(directory.require(code))


def material_read(code: str) -> MaterialRead:
    """A material code with its Chinese and English names."""
    names = material_names(code)
    return MaterialRead(code=code, name=names.zh, name_en=names.en)


def deadline_read(deadline: Deadline) -> DeadlineRead:
    assert deadline.id is not None
    return DeadlineRead(
        id=deadline.id,
        kind=deadline.kind,
        started_on=deadline.started_on,
        due_on=deadline.due_on,
        ends_at=deadline.ends_at,
        state=deadline.state,
        provisional=deadline.provisional,
        rule=deadline.rule,
    )


async def case_number_of(session: AsyncSession, *, case_id: int) -> str:
    """The case number of case `case_id`."""
    number = await session.scalar(sa.select(EnforcementCase.case_number).where(EnforcementCase.id == case_id))
    assert number is not None, f"case {case_id} is gone"
    return number


async def request_read(
    session: AsyncSession,
    *,
    request: AssistanceRequest,
    principal: Principal,
    directory: CourtDirectory,
    now: datetime | None = None,
) -> RequestRead:
    """The request as `principal` reads it (the caller has already been found to see it)."""
    assert request.id is not None
    now = now or utcnow()
    case_number = await case_number_of(session, case_id=request.case_id)
    subject = await session.get(CaseParty, request.subject_id)
    assert subject is not None
    deadlines = await clocks.list_deadlines(session, subject_type=clocks.SUBJECT_TYPE, subject_id=request.id)
    return RequestRead(
        id=request.id,
        status=request.status,
        version=request.version,
        case_id=request.case_id,
        case_number=case_number,
        matter_type=request.matter_type,
        urgency=request.urgency,
        requesting_court=court_read(directory, request.requesting_court),
        target_court=court_read(directory, request.target_court),
        supervising_court=court_read(directory, request.supervising_court),
        subject=party_read(subject, reveal=may_read_subject_in_full(principal, request)),
        location=LocationRead(region_code=request.region_code, address=request.address),
        description=request.description,
        materials=[material_read(code) for code in request.materials],
        current_freeze_expires_on=request.current_freeze_expires_on,
        deadlines=[deadline_read(d) for d in deadlines],
        overdue=clocks.is_overdue(deadlines, now=now),
        allowed_actions=allowed_actions(principal, request, directory),
        routed_on=request.routed_on,
        status_before_supplement=request.status_before_supplement,
        supplement_missing=request.supplement_missing,
        supplement_answer=request.supplement_answer,
        reject_reason=request.reject_reason,
        reject_note=request.reject_note,
        withdraw_reason=request.withdraw_reason,
        result_text=request.result_text,
        result_attachment_ids=list(request.result_attachment_ids or []),
        created_at=request.created_at,
        updated_at=request.updated_at,
        closed_at=request.closed_at,
    )


def _next_deadline(deadlines: Sequence[Deadline]) -> NextDeadlineRead | None:
    if not deadlines:
        return None
    first = deadlines[0]  # earliest end first
    return NextDeadlineRead(kind=first.kind, due_on=first.due_on, ends_at=first.ends_at, state=first.state)


async def list_items(
    session: AsyncSession,
    *,
    rows: Sequence[tuple[AssistanceRequest, str, CaseParty]],
    directory: CourtDirectory,
    now: datetime,
) -> list[RequestListItem]:
    """List items for (request, case number, subject) rows, in the order given; ID numbers masked."""
    open_deadlines = await clocks.deadlines_for_requests(
        session, request_ids=[request.id for request, _, _ in rows if request.id is not None]
    )
    items = []
    for request, case_number, subject in rows:
        assert request.id is not None
        found = open_deadlines.get(request.id, [])
        items.append(
            RequestListItem(
                id=request.id,
                status=request.status,
                version=request.version,
                case_id=request.case_id,
                case_number=case_number,
                matter_type=request.matter_type,
                urgency=request.urgency,
                requesting_court=court_read(directory, request.requesting_court),
                target_court=court_read(directory, request.target_court),
                supervising_court=court_read(directory, request.supervising_court),
                # List views never show an ID number in full, not even to the courts that may read it.
                subject=party_read(subject, reveal=False),
                location=LocationRead(region_code=request.region_code, address=request.address),
                next_deadline=_next_deadline(found),
                overdue=clocks.is_overdue(found, now=now),
                routed_on=request.routed_on,
                created_at=request.created_at,
                updated_at=request.updated_at,
            )
        )
    return items
