"""The record that a deadline job acted, and what every deadline job shares.

Both deadline acts (`reminders.remind_if_pending`, `missed.escalate_if_overdue`) are safe to run any
number of times (Grafana OnCall's escalation task): the job's `version` is a fencing token compared with
the deadline's, the rows are locked in the caller's unit of work, a job that runs before its time does
nothing, and the firing is recorded under the unique (deadline, version, purpose) constraint, so a
second run finds it and does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.escalations.enums import FiringPurpose
from assistance.escalations.models import DeadlineFiring
from assistance.requests.models import Deadline
from command_center.calendar import LegalCalendar
from command_center.calendar.periods import SHANGHAI
from command_center.courts.directory import CourtDirectory

ACTOR = "system:scheduler"
REQUEST_SUBJECT = "request"
CASE_SUBJECT = "case"
_FIRING = DeadlineFiring.__table__


class FiringOutcome(StrEnum):
    """What a deadline job found and did; only `fired` changed anything."""

    fired = "fired"
    missing = "missing"  # no such deadline
    stale = "stale"  # the deadline's version moved on: a newer job owns it
    closed = "closed"  # met, missed or cancelled already
    not_due = "not_due"  # the job ran before its time: never fire early
    late = "late"  # a reminder for a deadline that has already ended: nothing left to remind
    duplicate = "duplicate"  # this firing is already recorded
    orphaned = "orphaned"  # the subject no longer runs this clock: the deadline is cancelled


@dataclass(frozen=True, slots=True)
class FiringPolicy:
    """The reference data and settings a deadline job works with."""

    calendar: LegalCalendar
    directory: CourtDirectory
    reminder_lead_working_days: int = 1
    supervision_order_working_days: int = 3


def china_date(at: datetime) -> date:
    """The calendar day in Asia/Shanghai at instant `at`."""
    return at.astimezone(SHANGHAI).date()


def _dialect_insert(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


async def record_firing(
    session: AsyncSession, *, deadline_id: int, version: int, purpose: FiringPurpose, now: datetime
) -> bool:
    """Records that the job for (deadline, version, purpose) acted; False when that was already recorded.

    ON CONFLICT DO NOTHING: a concurrent duplicate waits for the first writer's commit and then
    inserts nothing, without aborting its transaction.
    """
    insert = _dialect_insert(session)
    stmt = (
        insert(_FIRING)
        .values(deadline_id=deadline_id, version=version, purpose=purpose.value, fired_at=now.astimezone(UTC))
        .on_conflict_do_nothing(index_elements=["deadline_id", "version", "purpose"])
        .returning(_FIRING.c.id)
    )
    return (await session.execute(stmt)).first() is not None


async def lock_deadline(session: AsyncSession, deadline_id: int) -> Deadline | None:
    """The deadline, re-read and locked until the caller's transaction ends (FOR UPDATE)."""
    stmt = (
        sa.select(Deadline)
        .where(Deadline.id == deadline_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def deadline_summary(deadline: Deadline) -> dict[str, Any]:
    """What events and audit entries say about a deadline: ids, kind, subject and dates."""
    return {
        "deadline_id": deadline.id,
        "kind": deadline.kind,
        "subject_type": deadline.subject_type,
        "subject_id": deadline.subject_id,
        "started_on": deadline.started_on,
        "due_on": deadline.due_on,
        "ends_at": deadline.ends_at,
        "provisional": deadline.provisional,
    }
