"""What happens when a statutory clock runs out (DESIGN.md §3, legal clocks): one escalation, once.

Lock order: the subject (request or case) row first, then the deadline row — the order the request
and case services use when an action meets or cancels a clock, so a job and an action never deadlock.

What a missed clock sets in motion (each: one escalation record, one audit entry, outbox events, all in
the caller's transaction):

* file (法释〔2011〕11号 art. 9, 7 days): the target court is reminded and the supervising command
  center notified;
* start (Civil Procedure Law art. 240, 15 days): the requester may ask the receiving court's superior to
  order it to act, so the supervising command center issues a supervision order (督办) with its own
  deadline, and the escalation carries the bundle (timeline, documents) for the requester;
* report (same article, 30 days): a progress report is demanded from the target court;
* supplement (北京市高级人民法院 implementing opinion, 2011, 30 days): the request is deemed withdrawn,
  through the request service's own system path;
* case (法释〔2011〕11号, 6 months): the case is flagged for take-over or reassignment by the superior court.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.cases.models import EnforcementCase
from assistance.enums import CaseStatus, DeadlineKind, DeadlineState
from assistance.escalations import recipients
from assistance.escalations.enums import EscalationKind, FiringPurpose, SupervisionOrderState
from assistance.escalations.firing import (
    ACTOR,
    CASE_SUBJECT,
    REQUEST_SUBJECT,
    FiringOutcome,
    FiringPolicy,
    china_date,
    deadline_summary,
    lock_deadline,
    record_firing,
)
from assistance.escalations.models import Escalation, SupervisionOrder
from assistance.escalations.supervision import close_settled_orders, order_fields
from assistance.requests import deadlines as request_deadlines
from assistance.requests.models import AssistanceRequest, Deadline
from command_center.audit import service as audit
from command_center.calendar import add_working_days
from command_center.masking import jsonable
from command_center.outbox.service import record_event

log = logging.getLogger(__name__)


# What each missed clock sets in motion, and the rule that says so (DESIGN.md §3).
@dataclass(frozen=True, slots=True)
class ClockAction:
    escalation: EscalationKind
    action: str
    basis: str


ACTIONS: dict[DeadlineKind, ClockAction] = {
    DeadlineKind.file: ClockAction(
        EscalationKind.file_overdue,
        "remind_and_notify",
        "法释〔2011〕11号 art. 9: the receiving court files within 7 days and notifies the requester",
    ),
    DeadlineKind.start: ClockAction(
        EscalationKind.start_overdue,
        "supervision_order",
        (
            "Civil Procedure Law art. 240: not started within 15 days, the requester may ask the receiving "
            "court's superior to order it to act"
        ),
    ),
    DeadlineKind.report: ClockAction(
        EscalationKind.report_overdue,
        "progress_report_demanded",
        "Civil Procedure Law art. 240: not finished within 30 days, the receiving court reports progress",
    ),
    DeadlineKind.supplement: ClockAction(
        EscalationKind.supplement_overdue,
        "deemed_withdrawn",
        (
            "北京市高级人民法院 implementing opinion (2011): materials not supplemented within 30 days, the "
            "request is deemed withdrawn"
        ),
    ),
    DeadlineKind.case: ClockAction(
        EscalationKind.case_overdue,
        "take_over_or_reassign",
        (
            "法释〔2011〕11号: not concluded within 6 months of filing, the applicant may ask the superior "
            "court to take the case over or reassign it"
        ),
    ),
}
SUPERVISION_ORDER_RULE = "supervision order (督办) of the supervising command center; working days only"


async def _lock_subject(session: AsyncSession, subject_type: str, subject_id: int) -> Any:
    model: Any = AssistanceRequest if subject_type == REQUEST_SUBJECT else EnforcementCase
    stmt = (
        sa.select(model)
        .where(model.id == subject_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _subject_of(session: AsyncSession, deadline_id: int) -> tuple[str, int] | None:
    # The subject never changes, so it may be read before any lock is taken.
    stmt = sa.select(Deadline.subject_type, Deadline.subject_id).where(Deadline.id == deadline_id)
    row = (await session.execute(stmt)).first()
    return None if row is None else (row.subject_type, row.subject_id)


def _runs_clock(subject: Any, deadline: Deadline) -> bool:
    """True when the subject's state still implies this clock (DESIGN.md §3 lifecycle)."""
    if isinstance(subject, AssistanceRequest):
        return DeadlineKind(deadline.kind) in request_deadlines.implied_pending_kinds(subject.status)
    return subject.status == CaseStatus.open


async def _cancel_orphan(session: AsyncSession, deadline: Deadline, now: datetime) -> None:
    # The request or case service closes a clock when its subject leaves the state that runs it; a
    # pending clock on a subject that no longer runs it is cancelled instead of escalated.
    log.warning(
        "deadline %s (%s) is pending on %s %s that no longer runs it; cancelling it",
        deadline.id,
        deadline.kind,
        deadline.subject_type,
        deadline.subject_id,
    )
    deadline.state = DeadlineState.cancelled
    deadline.version += 1
    deadline.closed_at = now
    await session.flush()


async def escalate_if_overdue(
    session: AsyncSession, *, deadline_id: int, version: int, now: datetime, policy: FiringPolicy
) -> FiringOutcome:
    """Marks a pending deadline whose end has passed as missed and opens its one escalation, with the
    follow-up its clock prescribes (module docstring), an audit entry `deadline.missed`, and the events
    `deadline:missed` and `escalation:opened` (plus `supervision:ordered` or `progress_report:demanded`)."""
    subject = await _subject_of(session, deadline_id)
    if subject is None:
        return FiringOutcome.missing
    subject_row = await _lock_subject(session, *subject)
    deadline = await lock_deadline(session, deadline_id)
    if deadline is None or subject_row is None:
        return FiringOutcome.missing
    if deadline.version != version:
        return FiringOutcome.stale
    if deadline.state != DeadlineState.pending:
        return FiringOutcome.closed
    if now < deadline.ends_at:
        return FiringOutcome.not_due
    if not _runs_clock(subject_row, deadline):
        await _cancel_orphan(session, deadline, now)
        return FiringOutcome.orphaned
    if not await record_firing(
        session, deadline_id=deadline_id, version=version, purpose=FiringPurpose.due, now=now
    ):
        return FiringOutcome.duplicate

    if isinstance(subject_row, AssistanceRequest):
        await _request_deadline_missed(
            session, deadline=deadline, request=subject_row, now=now, policy=policy
        )
    else:
        await _case_deadline_missed(session, deadline=deadline, case=subject_row, now=now, policy=policy)
    return FiringOutcome.fired


async def _mark_missed(session: AsyncSession, deadline: Deadline, now: datetime) -> Deadline:
    missed = await request_deadlines.mark_missed(
        session, deadline_id=deadline.id, version=deadline.version, now=now
    )
    if missed is None:  # unreachable: the row is locked, pending, ended and of this version
        raise RuntimeError(f"deadline {deadline.id} could not be marked missed")
    return missed


async def _request_deadline_missed(
    session: AsyncSession,
    *,
    deadline: Deadline,
    request: AssistanceRequest,
    now: datetime,
    policy: FiringPolicy,
) -> None:
    kind = DeadlineKind(deadline.kind)
    clock = ACTIONS[kind]
    escalation_kind, action, basis = clock.escalation, clock.action, clock.basis
    summary = deadline_summary(deadline)
    if kind is DeadlineKind.supplement:
        # Deemed withdrawn through the request service's system path, so the lifecycle, its audit
        # entry and its `assistance:withdrawn` event are the same as for any withdrawal.
        from assistance.requests.actions import deem_withdrawn

        await deem_withdrawn(
            session, directory=policy.directory, request_id=request.id, deadline_id=deadline.id, now=now
        )
        await close_settled_orders(
            session, directory=policy.directory, request=request, action="deemed_withdrawn", now=now
        )
        await session.refresh(deadline)
        if deadline.state == DeadlineState.pending:
            await _mark_missed(session, deadline, now)
    else:
        await _mark_missed(session, deadline, now)

    escalation = Escalation(
        deadline_id=deadline.id,
        kind=escalation_kind,
        subject_type=REQUEST_SUBJECT,
        subject_id=request.id,
        request_id=request.id,
        case_id=request.case_id,
        target_court=request.target_court,
        requesting_court=request.requesting_court,
        supervising_court=request.supervising_court,
        details=jsonable(
            {
                "action": action,
                "basis": basis,
                "court": recipients.acting_court(kind, request=request),
                "deadline": summary,
            }
        ),
        created_at=now,
    )
    session.add(escalation)
    await session.flush()

    order: SupervisionOrder | None = None
    if kind is DeadlineKind.start:
        order = await _issue_supervision_order(
            session, escalation=escalation, request=request, now=now, policy=policy
        )
        escalation.details = {**escalation.details, "supervision_order_id": order.id}
        await session.flush()

    rooms = recipients.request_escalation_rooms(policy.directory, request=request)
    event = escalation_event(escalation)
    await record_event(
        session, name="deadline:missed", rooms=rooms, payload={**summary, "escalation_id": escalation.id}
    )
    await record_event(session, name="escalation:opened", rooms=rooms, payload=event)
    if order is not None:
        await record_event(
            session,
            name="supervision:ordered",
            rooms=rooms,
            payload={**supervision_event(order), "deadline_id": deadline.id},
        )
    if kind is DeadlineKind.report:
        await record_event(
            session,
            name="progress_report:demanded",
            rooms=rooms,
            payload={
                "request_id": request.id,
                "court": request.target_court,
                "deadline_id": deadline.id,
                "escalation_id": escalation.id,
            },
        )
    await audit.record(
        session,
        action="deadline.missed",
        actor_label=ACTOR,
        court_code=request.supervising_court,
        subject_type="assistance_request",
        subject_id=str(request.id),
        details={
            **summary,
            "escalation_id": escalation.id,
            "escalation_kind": escalation_kind,
            "action": action,
            "supervision_order_id": order.id if order else None,
        },
    )


async def _issue_supervision_order(
    session: AsyncSession,
    *,
    escalation: Escalation,
    request: AssistanceRequest,
    now: datetime,
    policy: FiringPolicy,
) -> SupervisionOrder:
    issued_on = china_date(now)
    period = add_working_days(policy.calendar, issued_on, policy.supervision_order_working_days)
    order = SupervisionOrder(
        escalation_id=escalation.id,
        request_id=request.id,
        issuing_court=request.supervising_court,
        target_court=request.target_court,
        issued_on=issued_on,
        due_on=period.deadline,
        ends_at=period.ends_at.astimezone(UTC),
        provisional=period.provisional,
        rule=f"{SUPERVISION_ORDER_RULE} ({policy.supervision_order_working_days}); {period.rule}",
        state=SupervisionOrderState.open,
        created_at=now,
    )
    session.add(order)
    await session.flush()
    return order


async def _case_deadline_missed(
    session: AsyncSession, *, deadline: Deadline, case: EnforcementCase, now: datetime, policy: FiringPolicy
) -> None:
    clock = ACTIONS[DeadlineKind.case]
    escalation_kind, action, basis = clock.escalation, clock.action, clock.basis
    summary = deadline_summary(deadline)
    await _mark_missed(session, deadline, now)
    # The superior court decides on take-over or reassignment; the SPC has none and supervises itself.
    entry = policy.directory.get(case.court_code)
    superior = (entry.superior_code if entry else None) or case.court_code
    escalation = Escalation(
        deadline_id=deadline.id,
        kind=escalation_kind,
        subject_type=CASE_SUBJECT,
        subject_id=case.id,
        request_id=None,
        case_id=case.id,
        target_court=case.court_code,
        requesting_court=None,
        supervising_court=superior,
        details=jsonable(
            {
                "action": action,
                "basis": basis,
                "court": case.court_code,
                "options": ["take_over", "reassign"],
                "deadline": summary,
            }
        ),
        created_at=now,
    )
    session.add(escalation)
    await session.flush()
    rooms = recipients.case_escalation_rooms(policy.directory, case=case)
    await record_event(
        session, name="deadline:missed", rooms=rooms, payload={**summary, "escalation_id": escalation.id}
    )
    await record_event(session, name="escalation:opened", rooms=rooms, payload=escalation_event(escalation))
    await audit.record(
        session,
        action="deadline.missed",
        actor_label=ACTOR,
        court_code=superior,
        subject_type="case",
        subject_id=str(case.id),
        details={
            **summary,
            "escalation_id": escalation.id,
            "escalation_kind": escalation_kind,
            "action": action,
        },
    )


def escalation_event(escalation: Escalation) -> dict[str, Any]:
    """The payload of `escalation:opened` / `escalation:resolved`: ids, courts, kind and state."""
    return {
        "id": escalation.id,
        "kind": escalation.kind,
        "state": escalation.state,
        "deadline_id": escalation.deadline_id,
        "subject_type": escalation.subject_type,
        "subject_id": escalation.subject_id,
        "request_id": escalation.request_id,
        "case_id": escalation.case_id,
        "target_court": escalation.target_court,
        "requesting_court": escalation.requesting_court,
        "supervising_court": escalation.supervising_court,
        "action": escalation.details.get("action"),
    }


def supervision_event(order: SupervisionOrder) -> dict[str, Any]:
    """The payload of `supervision:ordered`."""
    return {**order_fields(order), "issued_on": order.issued_on, "provisional": order.provisional}
