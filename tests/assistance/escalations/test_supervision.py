"""A supervision order (督办) after it is issued: chased once when its own deadline passes, closed when the
request is started (the ordered act) or no longer needs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from assistance.escalations.enums import SupervisionOrderState
from assistance.escalations.firing import FiringOutcome, FiringPolicy
from assistance.escalations.models import SupervisionOrder
from assistance.escalations.supervision import chase_if_overdue, overdue_order_ids
from command_center.audit.models import AuditEntry
from command_center.outbox.models import OutboxEvent
from tests.assistance.requests.conftest import SUPERVISOR, TARGET

TICK = timedelta(microseconds=1)


@pytest.fixture
def ordered(request_in_state_for, deadline_of, fire, test_db) -> Callable[..., Awaitable[SupervisionOrder]]:
    """A filed request whose start clock ran out: the supervision order that issued."""

    async def issue() -> SupervisionOrder:
        request = await request_in_state_for("start")
        deadline = await deadline_of("start", request_id=request.id)
        assert await fire(deadline, now=deadline.ends_at) is FiringOutcome.fired
        return await _order(test_db, request_id=request.id)

    return issue


@pytest.fixture
def chase(test_db: Any, policy: FiringPolicy) -> Callable[..., Awaitable[FiringOutcome]]:
    """Runs the chase for an order at instant `now`, in a unit of work of its own, as the sweep does."""

    async def run(order: SupervisionOrder, *, now: datetime) -> FiringOutcome:
        async with test_db.unit_of_work() as s:
            return await chase_if_overdue(s, order_id=order.id, now=now, policy=policy)

    return run


async def _order(test_db: Any, *, request_id: int) -> SupervisionOrder:
    async with test_db.unit_of_work(read_only=True) as s:
        stmt = sa.select(SupervisionOrder).where(SupervisionOrder.request_id == request_id)
        return (await s.execute(stmt.execution_options(populate_existing=True))).scalar_one()


async def _events(test_db: Any, name: str, order_id: int) -> list[OutboxEvent]:
    async with test_db.unit_of_work(read_only=True) as s:
        stmt = sa.select(OutboxEvent).where(
            OutboxEvent.name == name, OutboxEvent.payload["id"].as_integer() == order_id
        )
        return list((await s.execute(stmt)).scalars())


async def _audits(test_db: Any, action: str, request_id: int) -> list[AuditEntry]:
    async with test_db.unit_of_work(read_only=True) as s:
        stmt = sa.select(AuditEntry).where(
            AuditEntry.action == action, AuditEntry.subject_id == str(request_id)
        )
        return list((await s.execute(stmt)).scalars())


async def test_an_order_past_its_own_deadline_is_chased_exactly_once(ordered, chase, test_db):
    order = await ordered()
    assert await chase(order, now=order.ends_at - TICK) is FiringOutcome.not_due
    async with test_db.unit_of_work(read_only=True) as s:
        assert order.id not in await overdue_order_ids(s, now=order.ends_at - TICK, limit=100)
        assert order.id in await overdue_order_ids(s, now=order.ends_at, limit=100)

    assert await chase(order, now=order.ends_at) is FiringOutcome.fired
    assert await chase(order, now=order.ends_at + timedelta(days=1)) is FiringOutcome.duplicate

    chased = await _order(test_db, request_id=order.request_id)
    assert chased.state == SupervisionOrderState.open  # still owed: only the act closes it
    assert chased.overdue_at == order.ends_at
    async with test_db.unit_of_work(read_only=True) as s:
        assert order.id not in await overdue_order_ids(s, now=order.ends_at + timedelta(days=1), limit=100)
    events = await _events(test_db, "supervision:overdue", order.id)
    rooms = {e.room for e in events}
    assert {f"court:{TARGET}", f"court:{SUPERVISOR}", f"request:{order.request_id}"} <= rooms
    assert len({e.event_id for e in events}) == 1
    [entry] = await _audits(test_db, "supervision.overdue", order.request_id)
    assert entry.actor == "system:scheduler"
    assert entry.details["supervision_order_id"] == order.id


async def test_starting_the_request_closes_its_order_and_nothing_is_chased(ordered, act, chase, test_db):
    order = await ordered()
    await act(order.request_id, "start", now=order.ends_at - timedelta(days=1))

    closed = await _order(test_db, request_id=order.request_id)
    assert closed.state == SupervisionOrderState.closed
    assert closed.closed_at == order.ends_at - timedelta(days=1)
    [event] = {e.event_id: e for e in await _events(test_db, "supervision:closed", order.id)}.values()
    assert event.payload["action"] == "start" and event.payload["satisfied"] is True
    [entry] = await _audits(test_db, "supervision.closed", order.request_id)
    assert entry.actor.startswith("user:") and entry.details["satisfied"] is True

    assert await chase(order, now=order.ends_at) is FiringOutcome.closed
    assert await _events(test_db, "supervision:overdue", order.id) == []


async def test_an_act_that_is_not_the_ordered_one_leaves_the_order_open(ordered, act, test_db):
    order = await ordered()
    await act(order.request_id, "request_supplement", now=order.ends_at - timedelta(days=1))
    assert (await _order(test_db, request_id=order.request_id)).state == SupervisionOrderState.open
    assert await _audits(test_db, "supervision.closed", order.request_id) == []


async def test_a_withdrawn_request_closes_its_order_as_no_longer_needed(ordered, act, test_db):
    order = await ordered()
    await act(order.request_id, "withdraw", now=order.ends_at - timedelta(days=1))
    assert (await _order(test_db, request_id=order.request_id)).state == SupervisionOrderState.closed
    [event] = {e.event_id: e for e in await _events(test_db, "supervision:closed", order.id)}.values()
    assert event.payload["action"] == "withdraw" and event.payload["satisfied"] is False
