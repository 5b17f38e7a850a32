"""The statutory clocks: which deadlines each state implies, and the system acts of the deadline jobs
(a missed deadline, a request deemed withdrawn when its supplement never came)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from assistance.enums import DeadlineKind, DeadlineState, RequestStatus
from assistance.requests import actions, deadlines
from assistance.requests.lifecycle import ACTIONS
from command_center.audit.models import AuditEntry
from command_center.outbox.models import OutboxEvent
from tests.assistance.requests.conftest import ROUTED_AT

K = DeadlineKind


@pytest.mark.parametrize(
    ("status", "kinds"),
    [
        (RequestStatus.routed, {K.file, K.start, K.report}),
        (RequestStatus.filed, {K.start, K.report}),
        (RequestStatus.in_progress, {K.report}),
        (RequestStatus.awaiting_supplement, {K.supplement}),
        (RequestStatus.completed, set()),
        (RequestStatus.rejected, set()),
        (RequestStatus.withdrawn, set()),
    ],
)
def test_each_state_implies_its_pending_deadlines(status: RequestStatus, kinds: set[DeadlineKind]) -> None:
    assert deadlines.implied_pending_kinds(status) == kinds
    assert deadlines.implied_pending_kinds(status.value) == kinds


@pytest.mark.parametrize("action", ACTIONS)
async def test_after_every_action_the_pending_deadlines_are_those_the_state_implies(
    action: str, request_in_state_for: Any, act: Any, session: Any
) -> None:
    request = await request_in_state_for(action)
    after = await act(request.id, action)
    pending = await deadlines.pending_deadlines(session, subject_type="request", subject_id=request.id)
    kinds = [DeadlineKind(d.kind) for d in pending]
    assert sorted(kinds) == sorted(deadlines.implied_pending_kinds(after.status))
    assert len(kinds) == len(set(kinds))


async def test_pending_deadlines_are_listed_earliest_first(submit: Any, session: Any) -> None:
    request = await submit()
    pending = await deadlines.pending_deadlines(session, subject_type="request", subject_id=request.id)
    assert [d.kind for d in pending] == [K.file, K.start, K.report]


async def test_missed_deadline_is_marked_once_and_only_after_it_ended(submit: Any, session: Any) -> None:
    request = await submit()
    file_deadline = (
        await deadlines.pending_deadlines(session, subject_type="request", subject_id=request.id)
    )[0]
    ended = file_deadline.ends_at

    assert (
        await deadlines.mark_missed(session, deadline_id=file_deadline.id, now=ended - timedelta(seconds=1))
        is None
    )
    missed = await deadlines.mark_missed(session, deadline_id=file_deadline.id, version=1, now=ended)
    assert missed is not None
    assert (missed.state, missed.version) == (DeadlineState.missed, 2)
    # A second run (or a stale job with the old fencing version) changes nothing.
    assert await deadlines.mark_missed(session, deadline_id=file_deadline.id, now=ended) is None
    assert await deadlines.mark_missed(session, deadline_id=file_deadline.id, version=1, now=ended) is None


async def test_due_deadlines_finds_pending_deadlines_that_have_ended(submit: Any, session: Any) -> None:
    request = await submit()
    pending = await deadlines.pending_deadlines(session, subject_type="request", subject_id=request.id)
    at = pending[0].ends_at
    due = await deadlines.due_deadlines(session, now=at)
    assert pending[0].id in [d.id for d in due]
    assert pending[1].id not in [d.id for d in due]


async def test_filing_after_a_missed_file_deadline_leaves_it_missed(
    submit: Any, act: Any, session: Any
) -> None:
    request = await submit()
    file_deadline = (
        await deadlines.pending_deadlines(session, subject_type="request", subject_id=request.id)
    )[0]
    await deadlines.mark_missed(session, deadline_id=file_deadline.id, now=file_deadline.ends_at)
    await session.commit()
    await act(request.id, "file", now=file_deadline.ends_at + timedelta(hours=1))
    rows = await deadlines.list_deadlines(session, subject_type="request", subject_id=request.id)
    assert [(d.kind, d.state) for d in rows] == [
        (K.file, DeadlineState.missed),
        (K.report, DeadlineState.pending),
        (K.start, DeadlineState.pending),
    ]


async def _waiting_for_supplement(submit: Any, act: Any, session: Any) -> tuple[Any, Any]:
    request = await submit()
    await act(request.id, "request_supplement")
    [supplement] = await deadlines.pending_deadlines(session, subject_type="request", subject_id=request.id)
    return request, supplement


async def test_request_whose_supplement_never_came_is_deemed_withdrawn(
    submit: Any, act: Any, session: Any, court_directory: Any
) -> None:
    request, supplement = await _waiting_for_supplement(submit, act, session)

    withdrawn = await actions.deem_withdrawn(
        session,
        directory=court_directory,
        request_id=request.id,
        deadline_id=supplement.id,
        now=supplement.ends_at,
    )
    assert withdrawn is not None
    assert withdrawn.status == RequestStatus.withdrawn
    assert "deemed withdrawn" in (withdrawn.withdraw_reason or "")
    rows = await deadlines.list_deadlines(session, subject_type="request", subject_id=request.id)
    assert [d.state for d in rows if d.kind == K.supplement] == [DeadlineState.missed]
    entry = (
        await session.execute(
            sa.select(AuditEntry).where(
                AuditEntry.subject_id == str(request.id), AuditEntry.action == "assistance.withdrawn"
            )
        )
    ).scalar_one()
    assert entry.actor == "system"
    assert entry.details["deemed"] is True
    event = (
        await session.execute(
            sa.select(OutboxEvent).where(
                OutboxEvent.room == f"request:{request.id}", OutboxEvent.name == "assistance:withdrawn"
            )
        )
    ).scalar_one()
    assert event.payload["deemed"] is True
    assert event.payload["overdue"] is True  # the supplement deadline was missed


async def test_deeming_withdrawn_is_safe_to_run_twice_and_waits_for_the_deadline(
    submit: Any, act: Any, session: Any, court_directory: Any
) -> None:
    request, supplement = await _waiting_for_supplement(submit, act, session)
    early = supplement.ends_at - timedelta(microseconds=1)
    assert (
        await actions.deem_withdrawn(
            session, directory=court_directory, request_id=request.id, deadline_id=supplement.id, now=early
        )
        is None
    )
    assert await actions.deem_withdrawn(
        session,
        directory=court_directory,
        request_id=request.id,
        deadline_id=supplement.id,
        now=supplement.ends_at,
    )
    assert (
        await actions.deem_withdrawn(
            session,
            directory=court_directory,
            request_id=request.id,
            deadline_id=supplement.id,
            now=supplement.ends_at,
        )
        is None
    )


async def test_answered_supplement_is_not_deemed_withdrawn(
    submit: Any, act: Any, session: Any, court_directory: Any
) -> None:
    request, supplement = await _waiting_for_supplement(submit, act, session)
    await act(request.id, "supplement")
    late = supplement.ends_at + timedelta(days=1)
    assert (
        await actions.deem_withdrawn(
            session, directory=court_directory, request_id=request.id, deadline_id=supplement.id, now=late
        )
        is None
    )
    refreshed = await act(request.id, "file", now=ROUTED_AT)
    assert refreshed.status == RequestStatus.filed


async def test_deeming_withdrawn_ignores_a_deadline_of_another_kind_or_request(
    submit: Any, act: Any, session: Any, court_directory: Any
) -> None:
    request, supplement = await _waiting_for_supplement(submit, act, session)
    other = await submit()
    [file_deadline, *_] = await deadlines.pending_deadlines(
        session, subject_type="request", subject_id=other.id
    )
    far = datetime(2030, 1, 1, tzinfo=UTC)
    for request_id, deadline_id in (
        (other.id, file_deadline.id),
        (other.id, supplement.id),
        (request.id, file_deadline.id),
    ):
        assert (
            await actions.deem_withdrawn(
                session, directory=court_directory, request_id=request_id, deadline_id=deadline_id, now=far
            )
            is None
        )
