"""Campaign jobs: dispatch, the dispatch reconciler, and the daily situation reports.

- `dispatch_campaign(ctx, campaign_id)` (job id `campaign:{id}:dispatch`, then `…:dispatch:{attempt}`)
  runs batches, each in its own unit of work, until the campaign is dispatched, cancelled, or the job
  is superseded (its id is no longer the campaign's `dispatch_job_id`). It holds no state of its own:
  killed at any point, the next job resumes from the committed checkpoint.
- `reconcile_campaigns(ctx)` (cron, every `campaign_reconcile_seconds`, and at start-up) runs
  `reconcile_campaign_dispatches` and, from 18:00 on, enqueues any of the day's reports still missing.
  The dispatch reconciler gives every dispatching campaign a live job: a job still queued, or
  running with a fresh heartbeat (a batch committed within `campaign_dispatch_stale_seconds`), is
  left alone; one missing from Redis while the heartbeat is fresh is enqueued again under its id;
  one whose heartbeat went stale is handed to a new job id (the next attempt), which fences off the
  lost one should arq retry it.
- `report_campaigns(ctx)` (cron, 18:00 Asia/Shanghai — the worker's timezone) enqueues one
  `report_campaign(ctx, campaign_id, report_date)` per active campaign without that day's report
  (job id `campaign:{id}:report:{date}`), which stores the report once and announces it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time, timedelta
from typing import Any

from arq import cron
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.cron import CronJob
from arq.worker import Function, func

from assistance.campaigns import dispatch, reports
from assistance.campaigns import service as campaigns
from command_center.calendar.periods import SHANGHAI
from command_center.db import Database, utcnow
from command_center.settings import Settings

log = logging.getLogger(__name__)

REPORT_HOUR = 18  # Asia/Shanghai: the worker runs in that timezone (scheduler.worker)
REPORT_MINUTE = 0


async def run_dispatch(db: Database, settings: Settings, *, campaign_id: int, job_id: str) -> dict[str, Any]:
    """Runs dispatch batches for `campaign_id` as job `job_id` until there is nothing left for it to do;
    returns what happened (each batch commits on its own)."""
    batches = created = 0
    notified: set[str] = set()  # courts whose notice is committed (a shortcut; the table decides)
    async with db.unit_of_work() as session:
        await dispatch.claim(session, campaign_id=campaign_id, job_id=job_id)
    while True:
        async with db.unit_of_work() as session:
            outcome = await dispatch.dispatch_batch(
                session,
                campaign_id=campaign_id,
                job_id=job_id,
                batch_size=settings.campaign_dispatch_batch_size,
                notified_courts=notified,
            )
        # Only now, after the commit, are this batch's notices known to exist.
        notified |= outcome.courts_seen
        if not outcome.more:
            break
        batches += 1
        created += outcome.tasks_created
        if settings.campaign_dispatch_pause_seconds:
            await asyncio.sleep(settings.campaign_dispatch_pause_seconds)
    result = {
        "campaign_id": campaign_id,
        "status": outcome.status,
        "stopped": outcome.stopped,
        "batches": batches,
        "tasks_created": created,
        "done": outcome.done,
        "total": outcome.total,
    }
    log.info("campaign dispatch %s: %s", job_id, result)
    return result


async def dispatch_campaign(ctx: dict[str, Any], campaign_id: int) -> dict[str, Any]:
    """Dispatches a campaign from its checkpoint; stops when cancelled or superseded."""
    return await run_dispatch(ctx["db"], ctx["settings"], campaign_id=campaign_id, job_id=ctx["job_id"])


async def _job_state(redis: Any, job_id: str) -> tuple[bool, bool]:
    """(queued or running, running) for an arq job id, read from arq's keys."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.exists(job_key_prefix + job_id)
        pipe.exists(in_progress_key_prefix + job_id)
        queued, running = await pipe.execute()
    return bool(queued), bool(running)


async def reconcile_campaign_dispatches(ctx: dict[str, Any]) -> dict[str, int]:
    """Makes sure every dispatching campaign has a live dispatch job (see the module docstring)."""
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    redis = ctx["redis"]
    now = utcnow()
    stale_before = now - timedelta(seconds=settings.campaign_dispatch_stale_seconds)
    async with db.unit_of_work(read_only=True) as session:
        handles = await dispatch.list_dispatching(session)
    kept = resumed = requeued = 0
    for handle in handles:
        queued, running = await _job_state(redis, handle.job_id)
        fresh = handle.heartbeat_at is not None and handle.heartbeat_at >= stale_before
        if (queued and not running) or (running and fresh):
            kept += 1  # waiting in the queue, or running and committing batches
            continue
        if fresh:
            # Not in Redis although the dispatch is alive: the enqueue after commit failed, or Redis
            # lost its data. Enqueue the same id again (arq ignores it if it reappeared meanwhile);
            # even two runs under one id are safe, as every batch works under the campaign's lock.
            await redis.enqueue_job(campaigns.DISPATCH_JOB, handle.campaign_id, _job_id=handle.job_id)
            requeued += 1
            continue
        # Lost: its worker died (arq keeps a killed job's in-progress mark until the job timeout, so
        # the stale heartbeat is what tells a dead job from a slow one), or it failed.
        async with db.unit_of_work() as session:
            job_id = await dispatch.take_over(
                session, campaign_id=handle.campaign_id, stale_job_id=handle.job_id, stale_before=stale_before
            )
        if job_id is None:
            continue  # it finished, was cancelled, committed a batch meanwhile, or was taken over already
        await redis.enqueue_job(campaigns.DISPATCH_JOB, handle.campaign_id, _job_id=job_id)
        resumed += 1
        log.warning(
            "campaign %s: dispatch job %s lost; resuming as %s", handle.campaign_id, handle.job_id, job_id
        )
    return {"dispatching": len(handles), "kept": kept, "requeued": requeued, "resumed": resumed}


async def report_campaign(ctx: dict[str, Any], campaign_id: int, report_date: str) -> bool:
    """Stores and announces one campaign's report for `report_date` (ISO); False if it already existed."""
    async with ctx["db"].unit_of_work() as session:
        report = await reports.store_daily(
            session, campaign_id=campaign_id, report_date=date.fromisoformat(report_date)
        )
    return report is not None


async def report_campaigns(ctx: dict[str, Any], report_date: str | None = None) -> int:
    """Enqueues the day's (Asia/Shanghai) report job for every active campaign that has no report for
    that day yet; returns how many. A second run the same day enqueues nothing new."""
    day = report_date or campaigns.shanghai_today().isoformat()
    async with ctx["db"].unit_of_work(read_only=True) as session:
        missing = await reports.missing_daily(session, report_date=date.fromisoformat(day))
    for campaign_id in missing:
        await ctx["redis"].enqueue_job(
            campaigns.REPORT_JOB, campaign_id, day, _job_id=f"campaign:{campaign_id}:report:{day}"
        )
    return len(missing)


async def reconcile_campaigns(ctx: dict[str, Any]) -> dict[str, int]:
    """The reconciler cron: live jobs for dispatching campaigns and, from 18:00 Asia/Shanghai on, the
    day's reports that the 18:00 run missed (the worker was down, or Redis lost the jobs)."""
    summary = await reconcile_campaign_dispatches(ctx)
    if datetime.now(SHANGHAI).time() >= time(REPORT_HOUR, REPORT_MINUTE):
        summary["reports"] = await report_campaigns(ctx)
    return summary


def functions(settings: Settings) -> list[Function]:
    """The campaign jobs, under the names the app enqueues them by."""
    return [
        # A dispatch may take long; its checkpoint makes a retry (or a take-over) safe at any point.
        func(
            dispatch_campaign,
            name=campaigns.DISPATCH_JOB,
            timeout=settings.campaign_dispatch_timeout_seconds,
            max_tries=1000,
            keep_result=3600,
        ),
        func(report_campaign, name=campaigns.REPORT_JOB, max_tries=5),
        func(reconcile_campaign_dispatches),
        func(report_campaigns),
        func(reconcile_campaigns),
    ]


def cron_jobs(settings: Settings) -> list[CronJob]:
    """The reconciler (every `campaign_reconcile_seconds`, and at start-up) and the 18:00 reports."""
    every = settings.campaign_reconcile_seconds
    return [
        cron(
            reconcile_campaigns,
            name="cron:reconcile_campaigns",
            second=set(range(0, 60, every)),
            run_at_startup=True,
        ),
        cron(
            report_campaigns,
            name="cron:report_campaigns",
            hour={REPORT_HOUR},
            minute={REPORT_MINUTE},
            second={0},
        ),
    ]


def register(options: dict[str, Any], settings: Settings) -> None:
    """Adds the campaign jobs and cron jobs to a worker's options (scheduler.worker.build_worker)."""
    options["functions"] = [*options.get("functions", []), *functions(settings)]
    options["cron_jobs"] = [*options.get("cron_jobs", []), *cron_jobs(settings)]
