"""Fixtures for escalation tests: requests submitted and moved through the real request services, the
deadline jobs' policy, and helpers to read what a firing wrote.

The request fixtures (`submit`, `act`, `request_in_state_for`) are the request tests' own; every service
call takes an explicit instant, so no test depends on the clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from assistance.enums import DeadlineKind
from assistance.escalations.firing import FiringOutcome, FiringPolicy
from assistance.escalations.missed import escalate_if_overdue
from assistance.escalations.models import Escalation
from assistance.escalations.reminders import remind_if_pending
from assistance.requests.models import Deadline
from command_center.audit.models import AuditEntry
from command_center.outbox.models import OutboxEvent
from tests.assistance.requests.conftest import act, actor_for, request_in_state_for, submit  # noqa: F401


@pytest.fixture
def policy(court_directory: Any, legal_calendar: Any) -> FiringPolicy:
    return FiringPolicy(calendar=legal_calendar, directory=court_directory)


@pytest.fixture
def deadline_of(test_db: Any) -> Callable[..., Awaitable[Deadline]]:
    """The newest deadline of `kind` on request `request_id` (or on case `case_id`)."""

    async def find(
        kind: DeadlineKind | str, *, request_id: int | None = None, case_id: int | None = None
    ) -> Deadline:
        subject_type, subject_id = ("request", request_id) if request_id is not None else ("case", case_id)
        async with test_db.unit_of_work(read_only=True) as s:
            stmt = (
                sa.select(Deadline)
                .where(
                    Deadline.subject_type == subject_type,
                    Deadline.subject_id == subject_id,
                    Deadline.kind == DeadlineKind(kind),
                )
                .order_by(Deadline.id.desc())
                .limit(1)
            )
            return (await s.execute(stmt)).scalar_one()

    return find


@pytest.fixture
def fire(test_db: Any, policy: FiringPolicy) -> Callable[..., Awaitable[FiringOutcome]]:
    """Runs the due act (or the reminder act, `reminder=True`) for a deadline at instant `now`, in a unit
    of work of its own, as the deadline job does."""

    async def run(
        deadline: Deadline, *, now: datetime, version: int | None = None, reminder: bool = False
    ) -> FiringOutcome:
        act_ = remind_if_pending if reminder else escalate_if_overdue
        async with test_db.unit_of_work() as s:
            return await act_(
                s,
                deadline_id=deadline.id,
                version=deadline.version if version is None else version,
                now=now,
                policy=policy,
            )

    return run


@pytest.fixture
def written(test_db: Any) -> Callable[..., Awaitable[dict[str, Any]]]:
    """What exists about a deadline: its escalations, its subject's audit entries, outbox events by name."""

    async def read(deadline_id: int) -> dict[str, Any]:
        async with test_db.unit_of_work(read_only=True) as s:
            deadline = await s.get(Deadline, deadline_id, populate_existing=True)
            escalations = list(
                (
                    await s.execute(sa.select(Escalation).where(Escalation.deadline_id == deadline_id))
                ).scalars()
            )
            subject_type = "assistance_request" if deadline.subject_type == "request" else "case"
            audits = list(
                (
                    await s.execute(
                        sa.select(AuditEntry)
                        .where(
                            AuditEntry.subject_type == subject_type,
                            AuditEntry.subject_id == str(deadline.subject_id),
                            AuditEntry.action == "deadline.missed",
                        )
                        .order_by(AuditEntry.seq)
                    )
                ).scalars()
            )
            events = list(
                (
                    await s.execute(
                        sa.select(OutboxEvent)
                        .where(OutboxEvent.payload["deadline_id"].as_integer() == deadline_id)
                        .order_by(OutboxEvent.id)
                    )
                ).scalars()
            )
        by_name: dict[str, list[OutboxEvent]] = {}
        for event in events:
            by_name.setdefault(event.name, []).append(event)
        return {"deadline": deadline, "escalations": escalations, "audits": audits, "events": by_name}

    return read
