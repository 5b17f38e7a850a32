"""The reminder before a deadline ends: once per deadline version, to the court that has to act."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from assistance.cases.models import EnforcementCase
from assistance.enums import DeadlineState
from assistance.escalations import recipients
from assistance.escalations.enums import FiringPurpose
from assistance.escalations.firing import (
    REQUEST_SUBJECT,
    FiringOutcome,
    FiringPolicy,
    deadline_summary,
    lock_deadline,
    record_firing,
)
from assistance.requests.models import AssistanceRequest
from command_center.calendar import LegalCalendar
from command_center.calendar.periods import SHANGHAI
from command_center.outbox.service import record_event


def reminder_at(
    calendar: LegalCalendar, *, started_on: date, due_on: date, lead_working_days: int
) -> datetime | None:
    """When to remind: 00:00 Asia/Shanghai of the day that leaves `lead_working_days` working days
    (counting the last day) before the period ends; None when the period is shorter than that."""
    day, counted = due_on, 0
    while day > started_on:
        if calendar.is_working_day(day):
            counted += 1
            if counted >= lead_working_days:
                return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)
        day -= timedelta(days=1)
    return None


async def remind_if_pending(
    session: AsyncSession, *, deadline_id: int, version: int, now: datetime, policy: FiringPolicy
) -> FiringOutcome:
    """Sends `deadline:reminder` to the court that must act, once per deadline version, when the
    deadline is still pending at its reminder time and has not ended."""
    deadline = await lock_deadline(session, deadline_id)
    if deadline is None:
        return FiringOutcome.missing
    if deadline.version != version:
        return FiringOutcome.stale
    if deadline.state != DeadlineState.pending:
        return FiringOutcome.closed
    if now >= deadline.ends_at:
        return FiringOutcome.late
    remind_at = reminder_at(
        policy.calendar,
        started_on=deadline.started_on,
        due_on=deadline.due_on,
        lead_working_days=policy.reminder_lead_working_days,
    )
    if remind_at is None or now < remind_at:
        return FiringOutcome.not_due
    if not await record_firing(
        session, deadline_id=deadline_id, version=version, purpose=FiringPurpose.reminder, now=now
    ):
        return FiringOutcome.duplicate

    payload = deadline_summary(deadline)
    if deadline.subject_type == REQUEST_SUBJECT:
        request = await session.get(AssistanceRequest, deadline.subject_id)
        if request is None:
            return FiringOutcome.missing
        rooms = recipients.request_reminder_rooms(deadline.kind, request=request)
        payload.update(request_id=request.id, court=recipients.acting_court(deadline.kind, request=request))
    else:
        case = await session.get(EnforcementCase, deadline.subject_id)
        if case is None:
            return FiringOutcome.missing
        rooms = recipients.case_reminder_rooms(case=case)
        payload.update(case_id=case.id, court=case.court_code)
    await record_event(session, name="deadline:reminder", rooms=rooms, payload=payload)
    return FiringOutcome.fired
