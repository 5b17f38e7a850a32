"""The deadline jobs on a real Redis and a real arq worker, with the clock in the test's hands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from arq.constants import job_key_prefix
from arq.jobs import JobStatus
from arq.worker import Worker

from assistance.enums import DeadlineState
from assistance.escalations.models import DeadlineFiring, Escalation
from assistance.requests.models import Deadline
from command_center.calendar.periods import SHANGHAI
from scheduler import deadlines as jobs
from scheduler.reconciler import reconcile
from scheduler.worker import build_backlog_worker, build_worker

TICK = timedelta(microseconds=1)


async def _deadline(test_db: Any, request_id: int, kind: str) -> Deadline:
    async with test_db.unit_of_work(read_only=True) as s:
        stmt = sa.select(Deadline).where(
            Deadline.subject_type == "request", Deadline.subject_id == request_id, Deadline.kind == kind
        )
        return (await s.execute(stmt.order_by(Deadline.id.desc()).limit(1))).scalar_one()


async def _escalation_counts(test_db: Any, deadline_ids: list[int]) -> dict[int, int]:
    async with test_db.unit_of_work(read_only=True) as s:
        rows = await s.execute(
            sa.select(Escalation.deadline_id, sa.func.count())
            .where(Escalation.deadline_id.in_(deadline_ids))
            .group_by(Escalation.deadline_id)
        )
        return dict(rows.all())


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def test_a_due_job_never_fires_early_and_fires_once(submit, job_ctx, clock, test_db):
    request = await submit()
    deadline = await _deadline(test_db, request.id, "file")

    clock.set(deadline.ends_at - TICK)
    assert await jobs.deadline_due(job_ctx, deadline.id, deadline.version) == "not_due"
    clock.set(deadline.ends_at)
    assert await jobs.deadline_due(job_ctx, deadline.id, deadline.version) == "fired"
    # The same job delivered again (at least once), later still.
    clock.advance(days=2)
    assert await jobs.deadline_due(job_ctx, deadline.id, deadline.version) == "stale"
    assert await _escalation_counts(test_db, [deadline.id]) == {deadline.id: 1}


async def test_a_met_deadline_never_fires(submit, act, job_ctx, clock, test_db):
    request = await submit()
    deadline = await _deadline(test_db, request.id, "file")
    await act(request.id, "file", now=deadline.ends_at - timedelta(minutes=1))
    clock.set(deadline.ends_at + timedelta(days=30))
    assert await jobs.deadline_due(job_ctx, deadline.id, deadline.version) == "stale"
    assert await jobs.deadline_reminder(job_ctx, deadline.id, deadline.version) == "stale"
    assert await _escalation_counts(test_db, [deadline.id]) == {}


async def test_a_moved_deadline_leaves_its_old_jobs_stale(submit, job_ctx, clock, test_db):
    request = await submit()
    deadline = await _deadline(test_db, request.id, "file")
    later = deadline.ends_at + timedelta(days=3)
    async with test_db.unit_of_work() as s:
        await s.execute(
            sa.update(Deadline)
            .where(Deadline.id == deadline.id)
            .values(ends_at=later.astimezone(UTC), due_on=(later - timedelta(days=1)).date(), version=2)
        )
    clock.set(deadline.ends_at + timedelta(hours=1))
    assert await jobs.deadline_due(job_ctx, deadline.id, 1) == "stale"
    assert await jobs.deadline_due(job_ctx, deadline.id, 2) == "not_due"
    clock.set(later)
    assert await jobs.deadline_due(job_ctx, deadline.id, 2) == "fired"
    assert jobs.job_id(deadline.id, 1, "due") != jobs.job_id(deadline.id, 2, "due")


async def test_a_reminder_job_reminds_once_before_the_end(submit, job_ctx, clock, test_db):
    request = await submit()
    deadline = await _deadline(test_db, request.id, "file")
    clock.set(datetime(2026, 3, 17, tzinfo=SHANGHAI) - TICK)
    assert await jobs.deadline_reminder(job_ctx, deadline.id, deadline.version) == "not_due"
    clock.advance(microseconds=1)
    assert await jobs.deadline_reminder(job_ctx, deadline.id, deadline.version) == "fired"
    assert await jobs.deadline_reminder(job_ctx, deadline.id, deadline.version) == "duplicate"
    async with test_db.unit_of_work(read_only=True) as s:
        purposes = (
            await s.execute(
                sa.select(DeadlineFiring.purpose).where(DeadlineFiring.deadline_id == deadline.id)
            )
        ).scalars()
        assert list(purposes) == ["reminder"]


async def test_scheduling_puts_a_due_and_a_reminder_job_per_deadline_once(
    submit, deadline_redis, deadline_settings, legal_calendar, test_db
):
    request = await submit()
    deadline = await _deadline(test_db, request.id, "file")
    queue = deadline_settings.queue_name
    now = datetime(2026, 3, 10, 12, tzinfo=SHANGHAI)

    added = await jobs.schedule_deadlines(
        deadline_redis, [deadline], queue_name=queue, calendar=legal_calendar, lead_working_days=1, now=now
    )
    assert added == 2
    due_id = f"deadline:{deadline.id}:v{deadline.version}:due"
    reminder_id = f"deadline:{deadline.id}:v{deadline.version}:reminder"
    scores = dict(await deadline_redis.zrange(queue, 0, -1, withscores=True))
    assert scores == {
        due_id.encode(): _ms(deadline.ends_at),
        reminder_id.encode(): _ms(datetime(2026, 3, 17, tzinfo=SHANGHAI)),
    }
    assert await deadline_redis.exists(job_key_prefix + due_id)
    # Enqueueing again is a no-op: the ids are taken.
    again = await jobs.schedule_deadlines(
        deadline_redis, [deadline], queue_name=queue, calendar=legal_calendar, lead_working_days=1, now=now
    )
    assert again == 0
    assert await deadline_redis.zcard(queue) == 2


async def test_an_ended_deadline_gets_no_reminder_job(
    submit, deadline_redis, deadline_settings, legal_calendar, test_db
):
    request = await submit()
    deadline = await _deadline(test_db, request.id, "file")
    scheduled = jobs.deadline_jobs(
        deadline, calendar=legal_calendar, lead_working_days=1, now=deadline.ends_at
    )
    assert [job.function for job in scheduled] == ["deadline_due"]


async def test_a_real_worker_runs_each_due_job_once_even_when_enqueued_twice(
    submit, act, job_ctx, clock, test_db, deadline_redis, deadline_settings
):
    requests = [await submit() for _ in range(5)]
    await act(requests[0].id, "file")  # met in time: must never fire
    deadlines = [await _deadline(test_db, r.id, "file") for r in requests]
    clock.set(deadlines[0].ends_at + timedelta(minutes=5))
    # Due now by the test's clock; queued at an instant the real clock has passed, so the worker starts them.
    queued = [
        jobs.ScheduledJob(
            jobs.job_id(d.id, d.version, "due"),
            "deadline_due",
            d.id,
            d.version,
            datetime(2020, 1, 1, tzinfo=UTC),
        )
        for d in deadlines
    ]
    assert await jobs.enqueue_jobs(deadline_redis, queued, queue_name=deadline_settings.queue_name) == 5
    assert await jobs.enqueue_jobs(deadline_redis, queued, queue_name=deadline_settings.queue_name) == 0

    assert await _run_worker(job_ctx) == 5
    assert await _escalation_counts(test_db, [d.id for d in deadlines]) == {d.id: 1 for d in deadlines[1:]}

    # The jobs are gone (no result kept), so the same ids can be queued again; running them changes nothing.
    assert await jobs.enqueue_jobs(deadline_redis, queued, queue_name=deadline_settings.queue_name) == 5
    assert await _run_worker(job_ctx) == 5
    assert await _escalation_counts(test_db, [d.id for d in deadlines]) == {d.id: 1 for d in deadlines[1:]}
    async with test_db.unit_of_work(read_only=True) as s:
        states = (
            await s.execute(sa.select(Deadline.state).where(Deadline.id.in_([d.id for d in deadlines])))
        ).scalars()
        assert sorted(states) == sorted([DeadlineState.met] + [DeadlineState.missed] * 4)


async def _run_worker(job_ctx: dict[str, Any], build: Callable[..., Worker] = build_worker) -> int:
    """A real arq worker in burst mode on the test's queue, database and clock; returns jobs completed."""

    async def startup(ctx: dict[str, Any]) -> None:
        ctx.update({key: value for key, value in job_ctx.items() if key != "redis"})

    async def shutdown(_ctx: dict[str, Any]) -> None:
        return None

    worker = build(
        job_ctx["settings"],
        burst=True,
        max_jobs=1,  # the test's database is one connection
        cron_jobs=[],
        on_startup=startup,
        on_shutdown=shutdown,
        handle_signals=False,
        redis_pool=job_ctx["redis"],
    )
    await worker.main()
    return worker.jobs_complete


async def test_a_backlog_of_overdue_deadlines_does_not_hold_up_the_workers_queue(
    submit, job_ctx, clock, test_db, deadline_redis, deadline_settings
):
    requests = [await submit() for _ in range(6)]
    deadlines = [await _deadline(test_db, r.id, "file") for r in requests]
    clock.set(max(d.ends_at for d in deadlines) + timedelta(hours=1))
    # The worker was down when these ended: the start-up sweep restores their due jobs.
    await reconcile(
        job_ctx["db"], deadline_redis, settings=deadline_settings, calendar=job_ctx["calendar"], now=clock()
    )
    backlog = jobs.backlog_queue(deadline_settings.queue_name)
    due = {jobs.job_id(d.id, d.version, "due") for d in deadlines}
    assert due <= {key.decode() for key in await deadline_redis.zrange(backlog, 0, -1)}
    queued_on_main = {
        key.decode() for key in await deadline_redis.zrange(deadline_settings.queue_name, 0, -1)
    }
    assert not due & queued_on_main

    # The main worker runs its own queue (here: a job enqueued after the backlog, and the restored
    # schedule of the clocks still running) and none of the backlog.
    purge = await deadline_redis.enqueue_job("purge_outbox", _queue_name=deadline_settings.queue_name)
    assert await _run_worker(job_ctx) == len(queued_on_main) + 1
    assert await purge.status() is JobStatus.complete
    assert due <= {key.decode() for key in await deadline_redis.zrange(backlog, 0, -1)}
    assert await _escalation_counts(test_db, [d.id for d in deadlines]) == {}

    # The backlog worker works through the backlog: one escalation per deadline.
    assert await _run_worker(job_ctx, build_backlog_worker) >= len(deadlines)
    assert await _escalation_counts(test_db, [d.id for d in deadlines]) == {d.id: 1 for d in deadlines}
    assert await deadline_redis.zcard(backlog) == 0
