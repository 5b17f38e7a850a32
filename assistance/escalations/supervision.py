"""Supervision orders (督办) after they are issued: chased once when their own deadline passes, closed
when the request leaves the states in which the target court still owes the ordered act.

Civil Procedure Law, commissioned execution article: a receiving court that has not acted within 15 days
may be ordered to act by its superior. The order (issued by `missed`) gives it a few working days; when
they pass with the order still open, the target court and the supervising command centers hear of it
once (`supervision:overdue`). Starting the request satisfies the order; a request that is completed,
rejected or withdrawn no longer needs it. Either way the order is closed (`supervision:closed`).

Lock order, as everywhere else: the request row first, then the order rows.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.enums import RequestStatus
from assistance.escalations import recipients
from assistance.escalations.enums import SupervisionOrderState
from assistance.escalations.firing import ACTOR, FiringOutcome, FiringPolicy
from assistance.escalations.models import SupervisionOrder
from assistance.requests.models import AssistanceRequest
from command_center.audit import service as audit
from command_center.courts.directory import CourtDirectory
from command_center.identity.principal import Principal
from command_center.outbox.service import record_event

# While the request is in one of these states, the target court still owes the act the order demands.
ORDER_STANDS = frozenset({RequestStatus.routed, RequestStatus.filed, RequestStatus.awaiting_supplement})
_O = SupervisionOrder.__table__


def order_fields(order: SupervisionOrder) -> dict[str, object]:
    """What every `supervision:*` event says of the order: its ids, courts and dates."""
    return {
        "id": order.id,
        "escalation_id": order.escalation_id,
        "request_id": order.request_id,
        "issuing_court": order.issuing_court,
        "target_court": order.target_court,
        "due_on": order.due_on,
        "ends_at": order.ends_at,
    }


def order_event(order: SupervisionOrder) -> dict[str, object]:
    """The payload of `supervision:overdue` and `supervision:closed`: ids, courts, dates and state."""
    return {**order_fields(order), "state": order.state}


def order_stands(order: SupervisionOrder, request: AssistanceRequest) -> bool:
    """True while the order's target court still holds the request and has not started it."""
    return request.target_court == order.target_court and RequestStatus(request.status) in ORDER_STANDS


async def _lock_open_orders(session: AsyncSession, request_id: int) -> list[SupervisionOrder]:
    stmt = (
        sa.select(SupervisionOrder)
        .where(
            SupervisionOrder.request_id == request_id, SupervisionOrder.state == SupervisionOrderState.open
        )
        .order_by(SupervisionOrder.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars())


async def close_settled_orders(
    session: AsyncSession,
    *,
    directory: CourtDirectory,
    request: AssistanceRequest,
    action: str,
    now: datetime,
    actor: Principal | None = None,
) -> list[SupervisionOrder]:
    """Closes the request's open supervision orders that no longer stand after `action` (the request was
    started, completed, rejected or withdrawn); audits `supervision.closed` and records
    `supervision:closed` for each. The caller has already updated (and so locked) the request."""
    assert request.id is not None
    if RequestStatus(request.status) in ORDER_STANDS:
        return []
    orders = [o for o in await _lock_open_orders(session, request.id) if not order_stands(o, request)]
    for order in orders:
        await _close(
            session, directory=directory, order=order, request=request, action=action, now=now, actor=actor
        )
    return orders


async def _close(
    session: AsyncSession,
    *,
    directory: CourtDirectory,
    order: SupervisionOrder,
    request: AssistanceRequest,
    action: str,
    now: datetime,
    actor: Principal | None,
) -> None:
    order.state = SupervisionOrderState.closed
    order.closed_at = now
    await session.flush()
    satisfied = RequestStatus(request.status) in (RequestStatus.in_progress, RequestStatus.completed)
    details = {"supervision_order_id": order.id, "action": action, "satisfied": satisfied}
    await record_event(
        session,
        name="supervision:closed",
        rooms=recipients.request_escalation_rooms(directory, request=request),
        payload={**order_event(order), **details},
    )
    await audit.record(
        session,
        action="supervision.closed",
        actor=actor,
        actor_label=None if actor else ACTOR,
        court_code=None if actor else order.issuing_court,
        subject_type="assistance_request",
        subject_id=str(request.id),
        details=details,
    )


async def chase_if_overdue(
    session: AsyncSession, *, order_id: int, now: datetime, policy: FiringPolicy
) -> FiringOutcome:
    """When an open order's own deadline has passed and the request still awaits the ordered act: marks
    it overdue (once: `overdue_at`), audits `supervision.overdue` and records `supervision:overdue` for the
    target court and the supervising command centers. An order the request no longer needs is closed
    instead. Safe to run any number of times: the rows are locked and `overdue_at` is the fence."""
    request_id = await session.scalar(sa.select(_O.c.request_id).where(_O.c.id == order_id))
    if request_id is None:
        return FiringOutcome.missing
    request = await session.scalar(
        sa.select(AssistanceRequest)
        .where(AssistanceRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    order = await session.scalar(
        sa.select(SupervisionOrder)
        .where(SupervisionOrder.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if request is None or order is None:
        return FiringOutcome.missing
    if order.state != SupervisionOrderState.open:
        return FiringOutcome.closed
    if order.overdue_at is not None:
        return FiringOutcome.duplicate
    if now < order.ends_at:
        return FiringOutcome.not_due
    if not order_stands(order, request):
        await _close(
            session,
            directory=policy.directory,
            order=order,
            request=request,
            action=f"request_{request.status}",
            now=now,
            actor=None,
        )
        return FiringOutcome.orphaned

    order.overdue_at = now
    await session.flush()
    details = {"supervision_order_id": order.id, "escalation_id": order.escalation_id, "due_on": order.due_on}
    await record_event(
        session,
        name="supervision:overdue",
        rooms=recipients.request_escalation_rooms(policy.directory, request=request),
        payload={**order_event(order), "overdue_at": now},
    )
    await audit.record(
        session,
        action="supervision.overdue",
        actor_label=ACTOR,
        court_code=order.issuing_court,
        subject_type="assistance_request",
        subject_id=str(request.id),
        details=details,
    )
    return FiringOutcome.fired


def overdue_statement(now: datetime, *, limit: int) -> sa.Select[tuple[int]]:
    """Open orders whose own deadline has passed and that were not chased yet, oldest end first (an
    index range scan on `ix_supervision_order_state_ends_at`)."""
    return (
        sa.select(_O.c.id)
        .where(
            _O.c.state == SupervisionOrderState.open.value,
            _O.c.ends_at <= now,
            _O.c.overdue_at.is_(None),
        )
        .order_by(_O.c.ends_at, _O.c.id)
        .limit(limit)
    )


async def overdue_order_ids(session: AsyncSession, *, now: datetime, limit: int) -> list[int]:
    """Up to `limit` ids of open orders to chase now (see `overdue_statement`)."""
    return list((await session.execute(overdue_statement(now, limit=limit))).scalars())
