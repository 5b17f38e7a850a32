"""The reconciler: due deadlines get their jobs back, new deadlines get scheduled, a lost Redis is rebuilt."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix

from assistance.requests.models import Deadline
from command_center.calendar.periods import SHANGHAI
from scheduler import reconciler
from scheduler.deadlines import as_utc, backlog_queue, lease_seconds

from .conftest import flush


async def _file_deadlines(test_db: Any, request_ids: list[int]) -> list[Deadline]:
    async with test_db.unit_of_work(read_only=True) as s:
        stmt = (
            sa.select(Deadline)
            .where(
                Deadline.subject_type == "request",
                Deadline.subject_id.in_(request_ids),
                Deadline.kind == "file",
            )
            .order_by(Deadline.id)
        )
        return list((await s.execute(stmt)).scalars())


async def _pending_deadlines(test_db: Any, request_ids: list[int]) -> list[Deadline]:
    async with test_db.unit_of_work(read_only=True) as s:
        stmt = sa.select(Deadline).where(
            Deadline.subject_type == "request",
            Deadline.subject_id.in_(request_ids),
            Deadline.state == "pending",
        )
        return list((await s.execute(stmt)).scalars())


async def _queue(redis: Any, queue: str) -> dict[str, int]:
    return {key.decode(): int(score) for key, score in await redis.zrange(queue, 0, -1, withscores=True)}


async def _sweep(job_ctx: dict[str, Any], now: datetime, **settings: Any) -> reconciler.SweepReport:
    return await reconciler.reconcile(
        job_ctx["db"],
        job_ctx["redis"],
        settings=job_ctx["settings"].model_copy(update=settings),
        calendar=job_ctx["calendar"],
        now=now,
    )


async def test_the_sweep_enqueues_a_due_job_for_every_ended_pending_deadline_and_nothing_else(
    submit, act, job_ctx, test_db
):
    first = [await submit() for _ in range(3)]
    later = [await submit(now=datetime(2026, 3, 12, 10, tzinfo=SHANGHAI)) for _ in range(2)]
    await act(first[0].id, "file")
    ended, not_yet = (
        await _file_deadlines(test_db, [r.id for r in first]),
        await _file_deadlines(test_db, [r.id for r in later]),
    )
    now = ended[0].ends_at + timedelta(seconds=30)
    assert all(d.ends_at > now for d in not_yet)

    report = await _sweep(job_ctx, now, reconcile_batch_size=2)  # several keyset batches
    queue_name = job_ctx["settings"].queue_name
    queue = await _queue(job_ctx["redis"], backlog_queue(queue_name))
    due_ids = {key for key in queue if key.endswith(":due")}
    # Due jobs of ended deadlines go on the backlog queue, never on the worker's own queue.
    assert not {key for key in await _queue(job_ctx["redis"], queue_name) if key in due_ids}
    assert {f"deadline:{d.id}:v{d.version}:due" for d in ended[1:]} <= due_ids
    assert f"deadline:{ended[0].id}:v{ended[0].version}:due" not in due_ids  # met in time
    for d in ended[1:]:
        assert queue[f"deadline:{d.id}:v{d.version}:due"] == int(as_utc(d.ends_at).timestamp() * 1000)
    assert report.due >= 2

    # Jobs that are still queued are left alone.
    again = await _sweep(job_ctx, now)
    assert again.due_enqueued == 0
    assert again.scheduled == 0


async def test_a_due_job_that_failed_or_expired_is_enqueued_again(submit, job_ctx, test_db):
    request = await submit()
    [deadline] = await _file_deadlines(test_db, [request.id])
    redis, queue_name = job_ctx["redis"], job_ctx["settings"].queue_name
    job = f"deadline:{deadline.id}:v1:due"
    # arq's record of a run that failed (or whose job key expired): it would block arq's own enqueue.
    await redis.set(result_key_prefix + job, b"failed", px=3_600_000)
    report = await _sweep(job_ctx, deadline.ends_at + timedelta(hours=2))
    assert report.due_enqueued >= 1
    assert job in await _queue(redis, backlog_queue(queue_name))
    assert not await redis.exists(result_key_prefix + job)


async def test_a_lock_left_by_a_worker_that_died_before_starting_the_job_is_cut_to_the_lease(
    submit, job_ctx, test_db
):
    request = await submit()
    [deadline] = await _file_deadlines(test_db, [request.id])
    redis = job_ctx["redis"]
    job = f"deadline:{deadline.id}:v1:due"
    now = deadline.ends_at + timedelta(minutes=1)
    await _sweep(job_ctx, now)  # queued
    # arq locks a job for its slowest job's timeout (hours, with campaign dispatch) before starting it.
    await redis.set(in_progress_key_prefix + job, b"1", px=6 * 3_600_000)
    await _sweep(job_ctx, now)
    lease_ms = lease_seconds(job_ctx["settings"].deadline_job_timeout_seconds) * 1000
    assert 0 < await redis.pttl(in_progress_key_prefix + job) <= lease_ms


async def test_new_deadlines_are_scheduled_once_as_the_cursor_passes_them(
    submit, job_ctx, test_db, legal_calendar
):
    queue_name, redis = job_ctx["settings"].queue_name, job_ctx["redis"]
    now = datetime(2026, 3, 10, 12, tzinfo=SHANGHAI)
    first = await submit()
    await _sweep(job_ctx, now)
    cursor = int(await redis.get(reconciler.cursor_key(queue_name)))
    mine = await _pending_deadlines(test_db, [first.id])
    assert cursor >= max(d.id for d in mine)
    queue = await _queue(redis, queue_name)
    # Each of file, start and report: a due job and a reminder job.
    assert {f"deadline:{d.id}:v1:{purpose}" for d in mine for purpose in ("due", "reminder")} <= set(queue)

    second = await submit()
    report = await _sweep(job_ctx, now)
    # The request's file, start and report clocks and its new case's six-month clock, two jobs each.
    assert report.scanned == 4 and report.scheduled == 8
    assert int(await redis.get(reconciler.cursor_key(queue_name))) > cursor
    assert {f"deadline:{d.id}:v1:due" for d in await _pending_deadlines(test_db, [second.id])} <= set(
        await _queue(redis, queue_name)
    )
    assert (await _sweep(job_ctx, now)).scanned == 0


async def test_after_redis_loses_everything_one_sweep_rebuilds_the_whole_schedule(
    submit, act, job_ctx, test_db
):
    queue_name, redis = job_ctx["settings"].queue_name, job_ctx["redis"]
    requests = [await submit() for _ in range(4)]
    await act(requests[1].id, "file")
    now = datetime(2026, 3, 11, 9, tzinfo=SHANGHAI)
    await _sweep(job_ctx, now)
    before = await _queue(redis, queue_name)
    mine = {f"deadline:{d.id}:" for d in await _pending_deadlines(test_db, [r.id for r in requests])}
    before = {key: score for key, score in before.items() if any(key.startswith(p) for p in mine)}
    assert len(before) == 2 * len(mine)

    await flush(redis)
    report = await _sweep(job_ctx, now, reconcile_batch_size=3)
    after = await _queue(redis, queue_name)
    assert {key: after.get(key) for key in before} == before
    assert all([await redis.exists(job_key_prefix + key) for key in before])
    assert report.schedule_complete


async def test_a_walk_longer_than_its_budget_resumes_where_it_stopped(submit, job_ctx, test_db):
    queue_name, redis = job_ctx["settings"].queue_name, job_ctx["redis"]
    for _ in range(3):
        await submit()
    now = datetime(2026, 3, 11, 9, tzinfo=SHANGHAI)
    report = await _sweep(job_ctx, now, reconcile_batch_size=2, reconcile_budget_seconds=1e-9)
    assert not report.schedule_complete
    stopped_at = int(await redis.get(reconciler.cursor_key(queue_name)))
    rest = await _sweep(job_ctx, now, reconcile_batch_size=1000)
    assert rest.schedule_complete and rest.cursor > stopped_at


async def test_the_cursor_waits_for_deadlines_too_new_to_be_settled(submit, job_ctx, test_db):
    queue_name, redis = job_ctx["settings"].queue_name, job_ctx["redis"]
    request = await submit()
    mine = await _pending_deadlines(test_db, [request.id])
    start = min(d.id for d in mine) - 1
    await redis.set(reconciler.cursor_key(queue_name), start)
    now = datetime(2026, 3, 11, 9, tzinfo=SHANGHAI)
    # Inserted moments ago (wall clock): their jobs are enqueued now, but the cursor stays below them
    # until they are an hour old, in case a transaction holding a lower id has yet to commit.
    report = await _sweep(job_ctx, now, reconcile_settle_seconds=3600)
    assert report.scheduled == 6
    assert {f"deadline:{d.id}:v1:due" for d in mine} <= set(await _queue(redis, queue_name))
    assert int(await redis.get(reconciler.cursor_key(queue_name))) == start
    await _sweep(job_ctx, now, reconcile_settle_seconds=0)
    assert int(await redis.get(reconciler.cursor_key(queue_name))) >= max(d.id for d in mine)


async def test_the_due_query_is_an_index_range_scan(test_db, is_postgres):
    stmt = reconciler.due_statement(datetime(2026, 3, 11, tzinfo=SHANGHAI), limit=1000)
    async with test_db.unit_of_work(read_only=True) as s:
        compiled = stmt.compile(s.get_bind(), compile_kwargs={"literal_binds": True})
        if is_postgres:
            await s.execute(sa.text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join((await s.execute(sa.text(f"EXPLAIN {compiled}"))).scalars())
        else:
            plan = "\n".join(
                str(row) for row in (await s.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}"))).all()
            )
    assert "ix_deadline_state_ends_at" in plan, plan


def test_the_reconciler_runs_every_interval_and_at_startup(settings):
    assert reconciler.every(60) == {"minute": set(range(60)), "second": 0}
    assert reconciler.every(1) == {"second": set(range(60))}
    assert reconciler.every(15) == {"second": {0, 15, 30, 45}}
    assert reconciler.every(300)["minute"] == {0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55}
    [job] = reconciler.cron_jobs(settings)
    assert job.run_at_startup and job.unique
