"""The reconciler: a cron job that makes the queue agree with the database again.

Every `reconcile_interval_seconds` (default: every minute) one worker runs a sweep:

1. **Due deadlines.** Pending deadlines whose end has passed (the `ix_deadline_state_ends_at` range
   `state = 'pending' AND ends_at <= now`, in keyset batches) get their due job enqueued, on the backlog
   queue (`scheduler.deadlines.backlog_queue`), so they do not hold up the worker's queue — a no-op
   while it is queued or running, so this restores only jobs that were lost, expired or failed.
   A due job whose in-progress lock is longer than a
   deadline job's lease was locked by a worker that died before starting it: the lock is cut to the
   lease, so another worker takes the job up (a job that was running when its worker died has
   already cut its own lock).
2. **The schedule.** A cursor in Redis marks the highest deadline id whose jobs are enqueued. Pending
   deadlines above it (new ones, in primary-key order) get their due and reminder jobs, and the cursor
   moves on. If Redis lost its data the cursor is gone, so the walk starts from the first deadline and
   rebuilds every job, spread over as many sweeps as it takes (`reconcile_budget_seconds` each). The
   cursor passes only deadlines created at least `reconcile_settle_seconds` ago, so a transaction that
   took a lower id but committed later than a higher one is not skipped.

Neither step fires anything itself: the jobs do, and they are idempotent, so a sweep may overlap a job,
another sweep, or a worker that is starting up.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from arq import cron
from arq.cron import CronJob
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.enums import DeadlineState
from assistance.requests.models import Deadline
from command_center.calendar import LegalCalendar
from command_center.db import Database, utcnow
from command_center.settings import Settings
from scheduler.deadlines import (
    add_jobs,
    as_utc,
    backlog_queue,
    clock,
    deadline_jobs,
    due_job,
    enqueue_jobs,
    firing_policy,
    lease_seconds,
    missing_jobs,
)

log = logging.getLogger(__name__)

_D = Deadline.__table__
CURSOR_SUFFIX = ":deadlines:schedule-cursor"


@dataclass
class SweepReport:
    """What one sweep found and enqueued (jobs that already existed are not counted as enqueued)."""

    due: int = 0
    due_enqueued: int = 0
    scanned: int = 0
    scheduled: int = 0
    cursor: int = 0
    schedule_complete: bool = True


def cursor_key(queue_name: str) -> str:
    return queue_name + CURSOR_SUFFIX


def due_statement(now: datetime, *, limit: int, after: tuple[datetime, int] | None = None) -> sa.Select[Any]:
    """Pending deadlines ended at or before `now`, oldest end first: an index range scan on
    `ix_deadline_state_ends_at`; `after` continues from the last (ends_at, id) of the previous batch."""
    stmt = sa.select(_D.c.id, _D.c.version, _D.c.ends_at).where(
        _D.c.state == DeadlineState.pending.value, _D.c.ends_at <= as_utc(now)
    )
    if after is not None:
        last_end, last_id = after
        last_end = as_utc(last_end)
        stmt = stmt.where(
            _D.c.ends_at >= last_end,
            sa.or_(_D.c.ends_at > last_end, _D.c.id > last_id),
        )
    return stmt.order_by(_D.c.ends_at, _D.c.id).limit(limit)


async def enqueue_due(
    session: AsyncSession,
    redis: Redis,
    *,
    queue_name: str,
    now: datetime,
    batch_size: int,
    lease: float,
    report: SweepReport,
) -> None:
    """Step 1: enqueues the due job of every pending deadline whose end has passed, and releases the
    lock of one whose worker died before starting it (module docstring)."""
    after: tuple[datetime, int] | None = None
    while True:
        # One row more than a batch says whether another batch follows, without another query.
        rows = (await session.execute(due_statement(now, limit=batch_size + 1, after=after))).all()
        batch = rows[:batch_size]
        if batch:
            # Ids first (job_id's format): most sweeps find every job queued and build nothing more.
            ids = [f"deadline:{row.id}:v{row.version}:due" for row in batch]
            missing = await missing_jobs(redis, ids, lease_seconds=lease)
            jobs = [due_job(batch[i].id, batch[i].version, batch[i].ends_at) for i in missing]
            report.due += len(batch)
            report.due_enqueued += await add_jobs(redis, jobs, queue_name=queue_name)
        if len(rows) <= batch_size:
            return
        after = (batch[-1].ends_at, batch[-1].id)


def schedule_statement(cursor: int, *, limit: int) -> sa.Select[Any]:
    """Pending deadlines above the cursor, by primary key."""
    return (
        sa.select(_D.c.id, _D.c.version, _D.c.started_on, _D.c.due_on, _D.c.ends_at, _D.c.created_at)
        .where(_D.c.id > cursor, _D.c.state == DeadlineState.pending.value)
        .order_by(_D.c.id)
        .limit(limit)
    )


async def restore_schedule(
    session: AsyncSession,
    redis: Redis,
    *,
    queue_name: str,
    calendar: LegalCalendar,
    lead_working_days: int,
    now: datetime,
    batch_size: int,
    settle_seconds: float,
    budget_seconds: float,
    report: SweepReport,
) -> None:
    """Step 2: enqueues the jobs of pending deadlines above the Redis cursor and advances it."""
    key = cursor_key(queue_name)
    cursor = int(await redis.get(key) or 0)
    # Settling is about commit order in real time, so it is measured on the wall clock, not `now`.
    settled_before = utcnow() - timedelta(seconds=settle_seconds)
    stop_at = time.monotonic() + budget_seconds
    while True:
        rows = (await session.execute(schedule_statement(cursor, limit=batch_size))).all()
        if not rows:
            break
        # Deadlines that have ended are step 1's: it gives them their due job.
        jobs = [
            job
            for row in rows
            if as_utc(row.ends_at) > now
            for job in deadline_jobs(row, calendar=calendar, lead_working_days=lead_working_days, now=now)
        ]
        report.scanned += len(rows)
        report.scheduled += await enqueue_jobs(redis, jobs, queue_name=queue_name)
        # The cursor moves only over settled rows, and only after their jobs are in Redis.
        advanced = cursor
        for row in rows:
            if row.created_at is not None and as_utc(row.created_at) > settled_before:
                break
            advanced = row.id
        if advanced == cursor:
            break
        cursor = advanced
        await redis.set(key, cursor)
        if len(rows) < batch_size:
            break
        if time.monotonic() > stop_at:
            report.schedule_complete = False
            break
    report.cursor = cursor


async def reconcile(
    db: Database,
    redis: Redis,
    *,
    settings: Settings,
    calendar: LegalCalendar,
    now: datetime,
) -> SweepReport:
    """One sweep: due deadlines first (they matter now), then the schedule (module docstring).

    The sweep only reads the database, in one read-only transaction (one connection) for all its batches.
    """
    report = SweepReport()
    async with db.unit_of_work(read_only=True) as session:
        await _sweep(session, redis, settings=settings, calendar=calendar, now=now, report=report)
    return report


async def _sweep(
    session: AsyncSession,
    redis: Redis,
    *,
    settings: Settings,
    calendar: LegalCalendar,
    now: datetime,
    report: SweepReport,
) -> None:
    await enqueue_due(
        session,
        redis,
        queue_name=backlog_queue(settings.queue_name),
        now=now,
        batch_size=settings.reconcile_batch_size,
        lease=lease_seconds(settings.deadline_job_timeout_seconds),
        report=report,
    )
    await restore_schedule(
        session,
        redis,
        queue_name=settings.queue_name,
        calendar=calendar,
        lead_working_days=settings.reminder_lead_working_days,
        now=now,
        batch_size=settings.reconcile_batch_size,
        settle_seconds=settings.reconcile_settle_seconds,
        budget_seconds=settings.reconcile_budget_seconds,
        report=report,
    )


async def reconcile_deadlines(ctx: dict[str, Any]) -> dict[str, Any]:
    """The cron job: runs one sweep with the worker's clients; returns the sweep's counts."""
    policy = await firing_policy(ctx)
    report = await reconcile(
        ctx["db"], ctx["redis"], settings=ctx["settings"], calendar=policy.calendar, now=clock(ctx)
    )
    if report.due_enqueued or report.scheduled or not report.schedule_complete:
        log.info("deadline sweep: %s", asdict(report))
    return asdict(report)


def every(seconds: int) -> dict[str, Any]:
    """arq cron fields that fire every `seconds` (rounded to a divisor of a minute or of an hour)."""
    if seconds < 60:
        step = max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d <= seconds)
        return {"second": set(range(0, 60, step))}
    minutes = max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60) if d <= seconds // 60)
    return {"minute": set(range(0, 60, minutes)), "second": 0}


def cron_jobs(settings: Settings) -> list[CronJob]:
    """The reconciler, every `reconcile_interval_seconds`, and once when a worker starts (after a
    restart or a Redis loss the schedule is rebuilt at once, not a minute later)."""
    return [
        cron(
            reconcile_deadlines,
            name="reconcile_deadlines",
            run_at_startup=True,
            unique=True,
            timeout=max(60.0, settings.reconcile_budget_seconds * 3),
            **every(settings.reconcile_interval_seconds),
        )
    ]


def register(options: dict[str, Any], settings: Settings) -> None:
    """Adds the reconciler's cron job to a worker's options (scheduler.worker.build_worker)."""
    options["cron_jobs"] = [*options.get("cron_jobs", []), *cron_jobs(settings)]
