"""`kill -9` the worker mid-escalation of overdue deadlines and mid-dispatch of a campaign; restart it.

Every due deadline must be escalated exactly once, and every matching case must get exactly one
campaign task: the jobs work from committed checkpoints and fencing tokens, so a killed run leaves
nothing half done and its retry or take-over repeats nothing.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from assistance.campaigns import service as campaigns
from assistance.campaigns.enums import CampaignStatus
from assistance.campaigns.models import Campaign, CampaignTask
from assistance.campaigns.queue import enqueue_dispatch
from assistance.campaigns.schemas import CampaignCriteria
from assistance.cases.models import EnforcementCase
from command_center.courts.directory import load_directory
from command_center.db import utcnow
from tests.assistance.campaigns.factories import TODAY, insert_cases
from tests.faults.harness import ScenarioResult, Stack, report, settings_for, volume, wait_until
from tests.scheduler.test_worker_faults import Committed, progress

CREATOR = "330000"  # 浙江省高级人民法院: its subtree holds the cases
COURTS = ["330100", "330102", "330106", "330200", "330302"]
WORKER_ENV = {
    # Small batches with a pause, so a kill lands in the middle; a dispatch not heard from for 2 s is
    # handed to a new job by the reconciler, which looks every second.
    "CC_CAMPAIGN_DISPATCH_BATCH_SIZE": "50",
    "CC_CAMPAIGN_DISPATCH_PAUSE_SECONDS": "0.05",
    "CC_CAMPAIGN_DISPATCH_STALE_SECONDS": "2",
    "CC_CAMPAIGN_RECONCILE_SECONDS": "1",
}


async def _escalation_stage(stack: Stack) -> ScenarioResult:
    count = volume(100, 1500)
    made = Committed(stack.db)
    ids = await made.add_file_deadlines([utcnow() - timedelta(hours=1)] * count)
    worker = stack.start_worker()

    async def some_done() -> bool:
        return (await progress(stack.db, ids)).escalations >= count // 4

    await wait_until(some_done, what="a quarter of the escalations", stack=stack)
    worker.kill()
    at_kill = await progress(stack.db, ids)
    assert 0 < at_kill.escalations < count, f"the kill did not land mid-escalation: {at_kill}"
    assert at_kill.torn == 0 and at_kill.escalations == at_kill.escalated == at_kill.missed

    worker.start()

    async def all_done() -> bool:
        return (await progress(stack.db, ids)).missed == count

    await wait_until(all_done, what="every escalation after the restart", stack=stack)
    await asyncio.sleep(1.5)  # a job run twice, or still queued twice, would show up now
    done = await progress(stack.db, ids)
    await worker.terminate()
    return ScenarioResult(
        "worker kill -9 mid-escalation",
        acknowledged=count,
        stored=done.escalated,
        lost=count - done.escalated,
        duplicated=done.escalations - done.escalated + done.due_firings - done.escalated,
        notes=f"escalated before the kill: {at_kill.escalations}; torn: {done.torn}",
    )


async def _campaign(stack: Stack, campaign_id: int) -> Campaign:
    async with stack.db.unit_of_work(read_only=True) as s:
        campaign = await s.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign


async def _dispatch_stage(stack: Stack) -> ScenarioResult:
    matching = volume(600, 10_000)
    async with stack.db.unit_of_work() as s:
        case_ids = await insert_cases(
            s, count=matching, courts=COURTS, category="wages", amount_claimed=500_000
        )
        await insert_cases(s, count=matching // 10, courts=COURTS, category="commercial")
    async with stack.db.unit_of_work(read_only=True) as s:
        directory = await load_directory(s)
    criteria = CampaignCriteria(livelihood=True, min_amount=100_000)
    async with stack.db.unit_of_work() as s:
        campaign = Campaign(
            name="春节前涉民生案件专项执行行动（故障演练）",
            creator_court=CREATOR,
            created_by="test:faults",
            window_start=TODAY,
            window_end=TODAY + timedelta(days=30),
            criteria=criteria.model_dump(mode="json"),
            target_courts=campaigns.resolve_target_courts(
                directory, creator_court=CREATOR, criteria=criteria
            ),
        )
        s.add(campaign)
        await s.flush()
        campaign_id = campaign.id
        await campaigns.begin_dispatch(s, campaign=campaign)
        job_id = campaign.dispatch_job_id
    env = stack.env()
    queue_settings = settings_for(
        stack.database_url, redis_url=env["CC_REDIS_URL"], queue_name=env["CC_QUEUE_NAME"]
    )
    assert await enqueue_dispatch(queue_settings, campaign_id=campaign_id, job_id=job_id or "")
    worker = stack.start_worker()

    async def mid_dispatch() -> bool:
        return (await _campaign(stack, campaign_id)).done >= matching // 5

    await wait_until(mid_dispatch, what="a fifth of the dispatch", stack=stack)
    worker.kill()
    interrupted = await _campaign(stack, campaign_id)
    assert interrupted.status == CampaignStatus.dispatching and 0 < interrupted.done < matching, interrupted

    worker.start()

    async def dispatched() -> bool:
        return (await _campaign(stack, campaign_id)).status != CampaignStatus.dispatching

    await wait_until(dispatched, what="the dispatch to finish after the restart", stack=stack)
    await asyncio.sleep(1.5)
    await worker.terminate()
    task = CampaignTask.__table__
    final = await _campaign(stack, campaign_id)
    async with stack.db.unit_of_work(read_only=True) as s:
        rows = (
            (await s.execute(sa.select(task.c.case_id).where(task.c.campaign_id == campaign_id)))
            .scalars()
            .all()
        )
        # Every case the criteria select (the inserted ones, and any other livelihood case in the subtree).
        expected = set(
            (
                await s.execute(sa.select(EnforcementCase.id).where(*campaigns.case_conditions(final)))
            ).scalars()
        )
    tasks, distinct = len(rows), len(set(rows))
    assert set(case_ids) <= expected
    assert final.status == CampaignStatus.active and final.done == final.total == len(expected), final
    return ScenarioResult(
        "worker kill -9 mid-dispatch",
        acknowledged=len(expected),
        stored=distinct,
        lost=len(expected - set(rows)),
        duplicated=tasks - distinct,
        notes=f"tasks before the kill: {interrupted.done}; attempts: {final.dispatch_attempt}",
    )


async def test_kill_9_of_the_worker_mid_escalation_and_mid_dispatch_repeats_and_loses_nothing(make_stack):
    stack = await make_stack("worker", extra_env=WORKER_ENV)
    escalation = report(await _escalation_stage(stack))
    dispatch = report(await _dispatch_stage(stack))
    for result in (escalation, dispatch):
        assert (result.lost, result.duplicated) == (0, 0), result
    assert "torn: 0" in escalation.notes
