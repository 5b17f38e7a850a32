"""Campaign jobs on a real Redis: the dispatch job, the reconciler that restores lost jobs, the 18:00 reports."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix, job_key_prefix

from assistance.campaigns import service
from assistance.campaigns.enums import CampaignStatus
from assistance.campaigns.models import Campaign, CampaignReport, CampaignTask
from command_center.calendar.periods import SHANGHAI
from command_center.courts.directory import CourtDirectory, load_directory
from command_center.db import Database, utcnow
from command_center.settings import Settings
from scheduler import campaigns as jobs
from scheduler.worker import build_worker
from tests.assistance.campaigns.factories import TODAY, create_campaign, insert_cases, staff

COURTS = ["330102", "330106"]


@pytest.fixture(scope="module")
async def directory(database: Database) -> CourtDirectory:
    async with database.unit_of_work(read_only=True) as s:
        return await load_directory(s)


@pytest.fixture
def job_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"queue_name": f"campaign-jobs:{uuid.uuid4().hex[:8]}", "campaign_dispatch_batch_size": 4}
    )


@pytest.fixture
async def arq_redis(redis_url: str, job_settings: Settings) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=job_settings.queue_name)
    # Campaign ids repeat from test to test (each rolls back), and so would their job ids.
    stale = [key async for key in pool.scan_iter(match="arq:*campaign:*")]
    if stale:
        await pool.delete(*stale)
    yield pool
    await pool.aclose()


@pytest.fixture
def ctx(test_db: Database, job_settings: Settings, arq_redis: ArqRedis) -> dict[str, Any]:
    return {"db": test_db, "settings": job_settings, "redis": arq_redis}


async def run_worker(ctx: dict[str, Any]) -> int:
    """A real arq worker in burst mode on the test's queue and database; returns jobs completed."""

    async def startup(worker_ctx: dict[str, Any]) -> None:
        worker_ctx["db"] = ctx["db"]

    async def shutdown(_ctx: dict[str, Any]) -> None:
        return None

    worker = build_worker(
        ctx["settings"],
        burst=True,
        max_jobs=1,
        cron_jobs=[],
        on_startup=startup,
        on_shutdown=shutdown,
        handle_signals=False,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker.jobs_complete


async def _dispatching(test_db: Database, directory: CourtDirectory, cases: int = 10) -> Campaign:
    creator = staff("330100")
    async with test_db.unit_of_work() as s:
        await insert_cases(s, count=cases, courts=COURTS)
        campaign = await create_campaign(s, directory, creator=creator, livelihood=True)
        campaign, _ = await service.start_dispatch(
            s, campaign_id=campaign.id, actor=creator, directory=directory
        )
    return campaign


async def _make_stale(test_db: Database, ctx: dict[str, Any], campaign_id: int) -> None:
    stale = utcnow() - timedelta(seconds=ctx["settings"].campaign_dispatch_stale_seconds + 1)
    async with test_db.unit_of_work() as s:
        await s.execute(
            sa.update(Campaign).where(Campaign.id == campaign_id).values(dispatch_heartbeat_at=stale)
        )


async def _reload(test_db: Database, campaign_id: int) -> Campaign:
    async with test_db.unit_of_work() as s:
        return await s.get(Campaign, campaign_id)


async def _task_count(test_db: Database, campaign_id: int) -> int:
    async with test_db.unit_of_work() as s:
        return await s.scalar(sa.select(sa.func.count()).where(CampaignTask.campaign_id == campaign_id))


def test_the_worker_keeps_cron_time_in_asia_shanghai_and_reports_at_18(settings: Settings) -> None:
    worker = build_worker(settings)
    assert worker.timezone is SHANGHAI
    report = next(job for job in worker.cron_jobs if job.name == "cron:report_campaigns")
    report.calculate_next(datetime(2026, 1, 20, 17, 59, 30, tzinfo=SHANGHAI))
    assert (report.next_run.date().isoformat(), report.next_run.hour, report.next_run.minute) == (
        "2026-01-20",
        18,
        0,
    )
    assert report.next_run.utcoffset() == timedelta(hours=8)
    reconcile = next(job for job in worker.cron_jobs if job.name == "cron:reconcile_campaigns")
    assert reconcile.run_at_startup
    for name in (service.DISPATCH_JOB, service.REPORT_JOB):
        assert name in worker.functions


async def test_the_dispatch_job_run_twice_creates_each_task_once(
    ctx: dict[str, Any], test_db: Database, directory: CourtDirectory
) -> None:
    campaign = await _dispatching(test_db, directory, cases=10)
    job_ctx = {**ctx, "job_id": campaign.dispatch_job_id}

    first = await jobs.dispatch_campaign(job_ctx, campaign.id)
    second = await jobs.dispatch_campaign(job_ctx, campaign.id)  # as arq would retry it

    assert (first["batches"], first["tasks_created"], first["status"]) == (3, 10, CampaignStatus.active)
    assert (second["batches"], second["tasks_created"], second["stopped"]) == (0, 0, "not_dispatching")
    assert await _task_count(test_db, campaign.id) == 10


async def test_the_reconciler_enqueues_again_a_dispatch_whose_job_never_reached_redis(
    ctx: dict[str, Any], test_db: Database, directory: CourtDirectory
) -> None:
    campaign = await _dispatching(
        test_db, directory
    )  # committed, but nothing was enqueued (or Redis lost it)

    summary = await jobs.reconcile_campaign_dispatches(ctx)
    assert await run_worker(ctx) == 1

    assert summary["requeued"] >= 1
    after = await _reload(test_db, campaign.id)
    assert after.status == CampaignStatus.active and after.done == 10
    assert after.dispatch_job_id == campaign.dispatch_job_id  # its own id: nothing was lost but the message
    assert await _task_count(test_db, campaign.id) == 10


async def test_the_reconciler_hands_a_stale_dispatch_missing_from_redis_to_a_new_job(
    ctx: dict[str, Any], test_db: Database, directory: CourtDirectory
) -> None:
    campaign = await _dispatching(test_db, directory)
    await _make_stale(test_db, ctx, campaign.id)

    summary = await jobs.reconcile_campaign_dispatches(ctx)
    await run_worker(ctx)

    assert summary["resumed"] >= 1
    after = await _reload(test_db, campaign.id)
    assert (
        after.dispatch_job_id == f"campaign:{campaign.id}:dispatch:2"
        and after.status == CampaignStatus.active
    )
    assert await _task_count(test_db, campaign.id) == 10


async def test_the_reconciler_leaves_a_queued_job_and_a_running_one_with_a_fresh_heartbeat(
    ctx: dict[str, Any], test_db: Database, directory: CourtDirectory
) -> None:
    campaign = await _dispatching(test_db, directory)
    redis: ArqRedis = ctx["redis"]
    await redis.enqueue_job(service.DISPATCH_JOB, campaign.id, _job_id=campaign.dispatch_job_id)

    await jobs.reconcile_campaign_dispatches(ctx)
    assert (await _reload(test_db, campaign.id)).dispatch_job_id == campaign.dispatch_job_id  # queued: kept

    await redis.set(in_progress_key_prefix + campaign.dispatch_job_id, b"1")  # now "running", heartbeat fresh
    await jobs.reconcile_campaign_dispatches(ctx)
    assert (await _reload(test_db, campaign.id)).dispatch_job_id == campaign.dispatch_job_id


async def test_the_reconciler_takes_over_a_running_job_whose_heartbeat_went_stale(
    ctx: dict[str, Any], test_db: Database, directory: CourtDirectory
) -> None:
    campaign = await _dispatching(test_db, directory)
    redis: ArqRedis = ctx["redis"]
    old = campaign.dispatch_job_id
    # The worker running the job died: arq still holds the job and its in-progress mark.
    await redis.enqueue_job(service.DISPATCH_JOB, campaign.id, _job_id=old)
    await redis.set(in_progress_key_prefix + old, b"1")
    stale = utcnow() - timedelta(seconds=ctx["settings"].campaign_dispatch_stale_seconds + 1)
    async with test_db.unit_of_work() as s:
        await s.execute(
            sa.update(Campaign).where(Campaign.id == campaign.id).values(dispatch_heartbeat_at=stale)
        )

    await jobs.reconcile_campaign_dispatches(ctx)
    await redis.delete(
        in_progress_key_prefix + old
    )  # let the worker see the old job too, as after arq's timeout
    await run_worker(ctx)

    after = await _reload(test_db, campaign.id)
    assert after.dispatch_job_id == f"campaign:{campaign.id}:dispatch:2"
    assert after.status == CampaignStatus.active and after.done == 10
    assert await _task_count(test_db, campaign.id) == 10
    assert not await redis.exists(job_key_prefix + after.dispatch_job_id)  # finished


async def test_report_campaigns_enqueues_and_runs_one_report_per_active_campaign(
    ctx: dict[str, Any], test_db: Database, directory: CourtDirectory
) -> None:
    campaign = await _dispatching(test_db, directory, cases=3)
    await jobs.dispatch_campaign({**ctx, "job_id": campaign.dispatch_job_id}, campaign.id)
    draft = None
    async with test_db.unit_of_work() as s:
        draft = await create_campaign(s, directory, creator=staff("330100"), livelihood=True)

    enqueued = await jobs.report_campaigns(ctx, TODAY.isoformat())
    again = await jobs.report_campaigns(ctx, TODAY.isoformat())  # a second cron fire the same day
    await run_worker(ctx)

    assert enqueued == again >= 1
    assert (
        await jobs.report_campaigns(ctx, TODAY.isoformat()) == 0
    )  # stored: a catch-up run finds nothing missing
    async with test_db.unit_of_work() as s:
        stored = (await s.execute(sa.select(CampaignReport.campaign_id, CampaignReport.report_date))).all()
    assert (campaign.id, TODAY) in stored and all(cid != draft.id for cid, _ in stored)
    assert [cid for cid, day in stored].count(campaign.id) == 1
