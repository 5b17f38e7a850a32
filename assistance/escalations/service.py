"""Reading escalations within the caller's courts, the requester's bundle, and resolving them.

Visibility follows the request's: an escalation is visible to the scopes of its target, requesting and
supervising courts (command staff: their subtree; everyone else: their own court). Only command staff
whose subtree holds the supervising court may resolve one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.cases.models import EnforcementCase
from assistance.enums import DeadlineKind
from assistance.escalations import recipients
from assistance.escalations.enums import EscalationKind, EscalationState, SupervisionOrderState
from assistance.escalations.firing import CASE_SUBJECT
from assistance.escalations.missed import ACTIONS, escalation_event
from assistance.escalations.models import Escalation, SupervisionOrder
from assistance.escalations.schemas import (
    EscalationBundle,
    EscalationDetail,
    EscalationRead,
    SupervisionOrderRead,
)
from assistance.requests.attachments import attachment_read
from assistance.requests.models import AssistanceRequest, Attachment
from assistance.requests.timeline import timeline_entry
from command_center.audit import service as audit
from command_center.courts.directory import CourtDirectory
from command_center.db import utcnow
from command_center.errors import Conflict, Forbidden, NotFound
from command_center.identity.principal import Principal, Role
from command_center.identity.visibility import CourtScope, court_scope
from command_center.masking import jsonable
from command_center.outbox.service import record_event

_E = Escalation.__table__


def is_visible(scope: CourtScope, escalation: Escalation) -> bool:
    """True when the scope holds the escalation's target, requesting or supervising court."""
    return any(
        scope.includes(code)
        for code in (escalation.target_court, escalation.requesting_court, escalation.supervising_court)
    )


def visible_condition(scope: CourtScope) -> sa.ColumnElement[bool]:
    """SQL: the escalations `is_visible` accepts."""
    if scope.everything:
        return sa.true()
    return sa.or_(
        scope.filter(_E.c.target_court),
        scope.filter(_E.c.requesting_court),
        scope.filter(_E.c.supervising_court),
    )


def may_resolve(principal: Principal, directory: CourtDirectory, escalation: Escalation) -> bool:
    """Command staff of the supervising court or of a court above it."""
    return (
        principal.kind == "user"
        and principal.role == Role.command_staff
        and directory.is_within(escalation.supervising_court, principal.court_code)
    )


async def get(session: AsyncSession, *, escalation_id: int) -> Escalation | None:
    """The escalation with this id, whoever asks (callers authorize)."""
    return await session.get(Escalation, escalation_id)


async def get_by_deadline(session: AsyncSession, *, deadline_id: int) -> Escalation | None:
    """The escalation a missed deadline opened, if any."""
    stmt = sa.select(Escalation).where(Escalation.deadline_id == deadline_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_visible(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    escalation_id: int,
    for_update: bool = False,
) -> Escalation:
    """The escalation if the caller may see it; 404 otherwise (its existence is not revealed)."""
    stmt = sa.select(Escalation).where(Escalation.id == escalation_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    escalation = (await session.execute(stmt)).scalar_one_or_none()
    if escalation is None or not is_visible(court_scope(principal, directory), escalation):
        raise NotFound(f"No escalation {escalation_id}.")
    return escalation


async def list_visible(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    state: EscalationState | None = None,
    kind: EscalationKind | None = None,
    court: str | None = None,
    request_id: int | None = None,
    page: int = 1,
    page_size: int = 20,
) -> tuple[list[Escalation], int]:
    """One page of the escalations the caller may see, newest first, and how many match."""
    conditions = [visible_condition(court_scope(principal, directory))]
    if state is not None:
        conditions.append(_E.c.state == state)
    if kind is not None:
        conditions.append(_E.c.kind == kind)
    if court is not None:
        conditions.append(
            sa.or_(
                _E.c.target_court == court, _E.c.requesting_court == court, _E.c.supervising_court == court
            )
        )
    if request_id is not None:
        conditions.append(_E.c.request_id == request_id)
    total = await session.scalar(sa.select(sa.func.count()).select_from(_E).where(*conditions)) or 0
    stmt = (
        sa.select(Escalation)
        .where(*conditions)
        .order_by(_E.c.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return list((await session.execute(stmt)).scalars().all()), total


async def supervision_orders(
    session: AsyncSession, *, escalation_ids: Sequence[int]
) -> dict[int, SupervisionOrder]:
    """The supervision orders of these escalations, by escalation id (one query)."""
    if not escalation_ids:
        return {}
    stmt = sa.select(SupervisionOrder).where(SupervisionOrder.escalation_id.in_(sorted(set(escalation_ids))))
    return {order.escalation_id: order for order in (await session.execute(stmt)).scalars()}


def escalation_read(escalation: Escalation, order: SupervisionOrder | None) -> EscalationRead:
    """The read schema of an escalation with its supervision order."""
    return EscalationRead.model_validate(
        {
            **escalation.model_dump(),
            "supervision_order": SupervisionOrderRead.model_validate(order) if order else None,
        }
    )


async def reads(session: AsyncSession, *, escalations: Sequence[Escalation]) -> list[EscalationRead]:
    """Read schemas for a page of escalations (one query for their supervision orders)."""
    orders = await supervision_orders(session, escalation_ids=[e.id for e in escalations if e.id is not None])
    return [escalation_read(e, orders.get(e.id)) for e in escalations]


async def bundle(session: AsyncSession, *, escalation: Escalation) -> EscalationBundle | None:
    """For a missed start: the request's timeline (its audit record) and its documents, which the
    requester takes to the superior court (Civil Procedure Law art. 240); None for other kinds."""
    if escalation.kind != EscalationKind.start_overdue or escalation.request_id is None:
        return None
    entries = await audit.list_for_subject(
        session, subject_type="assistance_request", subject_id=str(escalation.request_id)
    )
    stmt = sa.select(Attachment).where(Attachment.request_id == escalation.request_id).order_by(Attachment.id)
    attachments = (await session.execute(stmt)).scalars().all()
    return EscalationBundle(
        request_id=escalation.request_id,
        basis=ACTIONS[DeadlineKind.start].basis,
        timeline=[timeline_entry(entry) for entry in entries],
        attachments=[attachment_read(a) for a in attachments],
    )


async def detail(session: AsyncSession, *, escalation: Escalation) -> EscalationDetail:
    """The full view of one escalation: its supervision order and, for a missed start, the bundle."""
    orders = await supervision_orders(session, escalation_ids=[escalation.id])
    base = escalation_read(escalation, orders.get(escalation.id))
    return EscalationDetail.model_validate(
        {**base.model_dump(), "bundle": await bundle(session, escalation=escalation)}
    )


async def resolve(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    escalation_id: int,
    note: str,
    now: datetime | None = None,
) -> Escalation:
    """Resolves an open escalation and closes its supervision order; audits `escalation.resolved` and
    records `escalation:resolved` for the rooms that heard it opened.

    404 if the caller cannot see it; 403 unless command staff over the supervising court; 409 when it
    is already resolved.
    """
    escalation = await get_visible(
        session, principal=principal, directory=directory, escalation_id=escalation_id, for_update=True
    )
    if not may_resolve(principal, directory, escalation):
        raise Forbidden("Only command staff over the supervising court may resolve an escalation.")
    if escalation.state == EscalationState.resolved:
        raise Conflict(
            f"Escalation {escalation_id} was already resolved.",
            details=jsonable({"resolved_at": escalation.resolved_at, "resolved_by": escalation.resolved_by}),
        )
    now = (now or utcnow()).astimezone(UTC)
    escalation.state = EscalationState.resolved
    escalation.resolved_at = now
    escalation.resolved_by = principal.label
    escalation.resolution_note = note
    await session.execute(
        sa.update(SupervisionOrder)
        .where(
            SupervisionOrder.escalation_id == escalation.id,
            SupervisionOrder.state == SupervisionOrderState.open,
        )
        .values(state=SupervisionOrderState.closed, closed_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.flush()

    if escalation.subject_type == CASE_SUBJECT:
        case = await session.get(EnforcementCase, escalation.subject_id)
        rooms = recipients.case_escalation_rooms(directory, case=case) if case else []
        subject_type = "case"
    else:
        request = await session.get(AssistanceRequest, escalation.subject_id)
        rooms = recipients.request_escalation_rooms(directory, request=request) if request else []
        subject_type = "assistance_request"
    await record_event(session, name="escalation:resolved", rooms=rooms, payload=escalation_event(escalation))
    await audit.record(
        session,
        action="escalation.resolved",
        actor=principal,
        subject_type=subject_type,
        subject_id=str(escalation.subject_id),
        details={"escalation_id": escalation.id, "kind": escalation.kind, "note_length": len(note)},
    )
    return escalation
