"""The supervision order sweep: an order past its own deadline is chased once, by the worker's cron job."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from assistance.escalations.models import SupervisionOrder
from assistance.requests.models import Deadline
from command_center.outbox.models import OutboxEvent
from scheduler import deadlines as jobs
from scheduler.supervision import chase_supervision_orders
from scheduler.worker import worker_options

TICK = timedelta(microseconds=1)


async def _read(test_db: Any, stmt: Any) -> Any:
    async with test_db.unit_of_work(read_only=True) as s:
        return (await s.execute(stmt.execution_options(populate_existing=True))).scalar_one()


async def _overdue_events(test_db: Any, order_id: int) -> set[str]:
    async with test_db.unit_of_work(read_only=True) as s:
        stmt = sa.select(OutboxEvent.event_id).where(
            OutboxEvent.name == "supervision:overdue", OutboxEvent.payload["id"].as_integer() == order_id
        )
        return set((await s.execute(stmt)).scalars())


async def test_the_sweep_chases_an_overdue_order_once_and_never_early(
    request_in_state_for, job_ctx, clock, test_db
):
    request = await request_in_state_for("start")
    deadline = await _read(
        test_db,
        sa.select(Deadline).where(
            Deadline.subject_type == "request", Deadline.subject_id == request.id, Deadline.kind == "start"
        ),
    )
    clock.set(deadline.ends_at)
    assert await jobs.deadline_due(job_ctx, deadline.id, deadline.version) == "fired"
    order = await _read(test_db, sa.select(SupervisionOrder).where(SupervisionOrder.request_id == request.id))

    clock.set(order.ends_at - TICK)
    await chase_supervision_orders(job_ctx)
    assert (
        await _read(test_db, sa.select(SupervisionOrder).where(SupervisionOrder.id == order.id))
    ).overdue_at is None

    clock.set(order.ends_at + timedelta(minutes=1))
    assert (await chase_supervision_orders(job_ctx)).get("fired", 0) >= 1
    clock.advance(minutes=1)
    await chase_supervision_orders(job_ctx)
    chased = await _read(test_db, sa.select(SupervisionOrder).where(SupervisionOrder.id == order.id))
    assert chased.overdue_at == order.ends_at + timedelta(minutes=1)
    assert len(await _overdue_events(test_db, order.id)) == 1


def test_the_sweep_runs_with_the_reconciler_and_at_start_up(settings):
    [sweep] = [job for job in worker_options(settings)["cron_jobs"] if job.name == "chase_supervision_orders"]
    assert sweep.run_at_startup and sweep.unique
