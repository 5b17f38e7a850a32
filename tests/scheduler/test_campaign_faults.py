"""Fault tests: a real worker process (`python -m command_center worker`) on the test database and a
private Redis is killed in the middle of a campaign dispatch, then started again.

These tests commit to the run's database (a separate process must see the rows), so each removes
everything it wrote afterwards: its cases, the campaign and its rows, its outbox events, and the
room counters it advanced. Its courts are Tibet's (540000), which no other test uses.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from assistance.campaigns import service
from assistance.campaigns.enums import CampaignStatus
from assistance.campaigns.models import Campaign, CampaignCourtNotice, CampaignReport, CampaignTask
from assistance.campaigns.queue import enqueue_dispatch
from assistance.campaigns.schemas import CampaignCriteria
from assistance.cases.models import EnforcementCase
from command_center.courts.directory import load_directory
from command_center.db import Database
from command_center.outbox.models import OutboxEvent, RoomSequence
from command_center.redis_server import PrivateRedis
from command_center.settings import PROJECT_ROOT, Settings
from tests.assistance.campaigns.factories import TODAY, insert_cases

CREATOR = "540000"  # 西藏自治区高级人民法院
_CASE = EnforcementCase.__table__
_TASK = CampaignTask.__table__
_NOTICE = CampaignCourtNotice.__table__
_EVENT = OutboxEvent.__table__
_SEQ = RoomSequence.__table__
WAIT_SECONDS = 180  # an upper bound for a slow CI machine, never a speed assertion


@dataclass
class Scenario:
    """The rows one fault test committed, so that it can check and then remove them."""

    database: Database
    tag: str
    courts: list[str]
    matching: list[int] = field(default_factory=list)
    others: list[int] = field(default_factory=list)
    campaign_id: int | None = None
    job_id: str | None = None
    rooms_before: dict[str, int] = field(default_factory=dict)

    @property
    def rooms(self) -> list[str]:
        return [f"court:{code}" for code in self.courts] + [f"campaign:{self.campaign_id}"]


class WorkerProcess:
    """`python -m command_center worker` with CC_ settings in its environment."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "command_center", "worker"],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def signal(self, sig: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def wait(self, timeout: float = 60) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _worker_env(settings: Settings, redis: PrivateRedis, tmp: Path, **campaign: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    env.update(
        {
            "CC_ENV": "test",
            "CC_DATABASE_URL": settings.database_url,
            "CC_REDIS_URL": redis.url,
            "CC_QUEUE_NAME": f"campaign-faults:{uuid.uuid4().hex[:8]}",
            "CC_SECRET_KEY": settings.secret_key,
            "CC_VAR_DIR": str(tmp),
            "CC_LOG_JSON": "false",
            "CC_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({f"CC_CAMPAIGN_{key.upper()}": str(value) for key, value in campaign.items()})
    return env


async def _campaign(db: Database, campaign_id: int) -> Campaign:
    async with db.unit_of_work(read_only=True) as s:
        campaign = await s.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign


async def _wait_for(
    db: Database, campaign_id: int, ready: Callable[[Campaign], bool], worker: WorkerProcess
) -> Campaign:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        campaign = await _campaign(db, campaign_id)
        if ready(campaign):
            return campaign
        assert worker.process is not None and worker.process.poll() is None, worker.log_path.read_text()[
            -3000:
        ]
        assert loop.time() < deadline, f"campaign stuck at {campaign.status} {campaign.done}/{campaign.total}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def scenario(database: Database, private_redis: PrivateRedis) -> AsyncIterator[Scenario]:
    async with database.unit_of_work(read_only=True) as s:
        directory = await load_directory(s)
    courts = sorted(directory.subtree_codes(CREATOR))
    found = Scenario(database=database, tag=uuid.uuid4().hex[:10], courts=courts)
    async with database.unit_of_work(read_only=True) as s:
        rows = (
            await s.execute(sa.select(_SEQ.c.room, _SEQ.c.last_seq).where(_SEQ.c.room.like("court:54%")))
        ).all()
    found.rooms_before = {row.room: row.last_seq for row in rows}
    await _flush_redis(private_redis)
    try:
        yield found
    finally:
        await _remove(found)
        await _flush_redis(private_redis)


async def _flush_redis(redis: PrivateRedis) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis.url)
    await client.flushall()
    await client.aclose()


async def _remove(found: Scenario) -> None:
    async with found.database.unit_of_work() as s:
        if found.campaign_id is not None:
            cid = found.campaign_id
            await s.execute(sa.delete(_TASK).where(_TASK.c.campaign_id == cid))
            await s.execute(sa.delete(_NOTICE).where(_NOTICE.c.campaign_id == cid))
            await s.execute(
                sa.delete(CampaignReport.__table__).where(CampaignReport.__table__.c.campaign_id == cid)
            )
            await s.execute(sa.delete(Campaign.__table__).where(Campaign.__table__.c.id == cid))
            await s.execute(
                sa.delete(_EVENT).where(_EVENT.c.room.in_(found.rooms), _EVENT.c.name.like("campaign:%"))
            )
            for room in found.rooms:
                if room in found.rooms_before:
                    await s.execute(
                        sa.update(_SEQ).where(_SEQ.c.room == room).values(last_seq=found.rooms_before[room])
                    )
                else:
                    await s.execute(sa.delete(_SEQ).where(_SEQ.c.room == room))
        await s.execute(sa.delete(_CASE).where(_CASE.c.case_number.like(f"T{found.tag}%")))


async def _prepare(found: Scenario, *, matching: int, env: dict[str, str], settings: Settings) -> None:
    """Commits the cases and a campaign in `dispatching`, and enqueues its job as the API does."""
    db = found.database
    async with db.unit_of_work() as s:
        found.matching = await insert_cases(
            s, count=matching, courts=found.courts, category="wages", tag=found.tag
        )
        found.matching += await insert_cases(
            s, count=matching // 10, courts=found.courts, category="alimony_support", tag=found.tag
        )
        found.matching.sort()
        found.others = await insert_cases(
            s, count=150, courts=found.courts, category="commercial", tag=found.tag
        )
        found.others += await insert_cases(
            s, count=100, courts=found.courts, category="wages", status="concluded", tag=found.tag
        )
        found.others += await insert_cases(
            s, count=100, courts=found.courts, category="work_injury", amount_claimed=500, tag=found.tag
        )
    async with db.unit_of_work(read_only=True) as s:
        directory = await load_directory(s)
    criteria = CampaignCriteria(livelihood=True, min_amount=100_000)
    async with db.unit_of_work() as s:
        campaign = Campaign(
            name="春节前涉民生案件专项执行行动（故障测试）",
            creator_court=CREATOR,
            created_by="test:faults",
            window_start=TODAY,
            window_end=TODAY + timedelta(days=30),
            criteria=criteria.model_dump(mode="json"),
            target_courts=service.resolve_target_courts(directory, creator_court=CREATOR, criteria=criteria),
        )
        s.add(campaign)
        await s.flush()
        found.campaign_id = campaign.id
        await service.begin_dispatch(s, campaign=campaign)
        found.job_id = campaign.dispatch_job_id
    worker_settings = settings.model_copy(
        update={"redis_url": env["CC_REDIS_URL"], "queue_name": env["CC_QUEUE_NAME"]}
    )
    assert await enqueue_dispatch(worker_settings, campaign_id=found.campaign_id, job_id=found.job_id)


async def _assert_dispatched_exactly_once(found: Scenario) -> Campaign:
    campaign = await _campaign(found.database, found.campaign_id)
    async with found.database.unit_of_work(read_only=True) as s:
        tasks = (
            (
                await s.execute(
                    sa.select(_TASK.c.case_id)
                    .where(_TASK.c.campaign_id == found.campaign_id)
                    .order_by(_TASK.c.case_id)
                )
            )
            .scalars()
            .all()
        )
        priorities = dict(
            (
                await s.execute(
                    sa.select(_CASE.c.id, _CASE.c.priority).where(_CASE.c.case_number.like(f"T{found.tag}%"))
                )
            ).all()
        )
        notices = (
            (
                await s.execute(
                    sa.select(_NOTICE.c.court_code).where(_NOTICE.c.campaign_id == found.campaign_id)
                )
            )
            .scalars()
            .all()
        )
        notified = (
            (
                await s.execute(
                    sa.select(_EVENT.c.room).where(
                        _EVENT.c.name == "campaign:court_notified", _EVENT.c.room.in_(found.rooms)
                    )
                )
            )
            .scalars()
            .all()
        )
        progress = (
            (
                await s.execute(
                    sa.select(_EVENT.c.payload)
                    .where(
                        _EVENT.c.room == f"campaign:{found.campaign_id}", _EVENT.c.name == "campaign:progress"
                    )
                    .order_by(_EVENT.c.seq)
                )
            )
            .scalars()
            .all()
        )
    assert (
        list(tasks) == found.matching
    )  # every matching case exactly once (and the constraint forbids twice)
    assert {priorities[i] for i in found.matching} == {"high"}
    assert {priorities[i] for i in found.others} == {"normal"}
    assert sorted(notices) == found.courts  # the cases are spread over every court of the subtree
    assert sorted(notified) == [f"court:{code}" for code in found.courts]  # each court told once
    done = [p["done"] for p in progress]
    assert done == sorted(done) and done[-1] == len(found.matching)
    assert (campaign.status, campaign.done, campaign.total) == (
        CampaignStatus.active,
        len(found.matching),
        len(found.matching),
    )
    return campaign


async def test_a_worker_killed_mid_dispatch_resumes_and_every_case_gets_exactly_one_task(
    scenario: Scenario, settings: Settings, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    # Batches of 200 with a short pause between them, so the kill lands in the middle of the walk;
    # a dispatch not heard from for 2 s is taken over by the reconciler, which runs every second.
    env = _worker_env(
        settings,
        private_redis,
        tmp_path,
        dispatch_batch_size=200,
        dispatch_pause_seconds=0.03,
        dispatch_stale_seconds=2,
        reconcile_seconds=1,
    )
    await _prepare(scenario, matching=10_000, env=env, settings=settings)
    total = len(scenario.matching)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        worker.start()
        await _wait_for(scenario.database, scenario.campaign_id, lambda c: c.done >= total // 5, worker)
        worker.signal(signal.SIGKILL)
        assert worker.wait() == -signal.SIGKILL

        interrupted = await _campaign(scenario.database, scenario.campaign_id)
        async with scenario.database.unit_of_work(read_only=True) as s:
            committed = await s.scalar(
                sa.select(sa.func.count()).where(_TASK.c.campaign_id == scenario.campaign_id)
            )
        assert interrupted.status == CampaignStatus.dispatching and 0 < interrupted.done < total
        assert committed == interrupted.done  # the checkpoint and the tasks were committed together

        worker.start()
        await _wait_for(
            scenario.database, scenario.campaign_id, lambda c: c.status != CampaignStatus.dispatching, worker
        )
        worker.signal(signal.SIGTERM)
        worker.wait()
    finally:
        worker.stop()

    campaign = await _assert_dispatched_exactly_once(scenario)
    assert campaign.dispatch_attempt >= 2  # the reconciler handed the dead job's dispatch to a new job


async def test_a_worker_stopped_by_sigterm_mid_dispatch_is_resumed_by_arqs_retry(
    scenario: Scenario, settings: Settings, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    # At SIGTERM the worker lets running jobs go on for a grace period, then cancels them; arq puts a
    # cancelled job back in the queue. The dispatch is paced to outlast the grace period, and is never
    # stale (10 minutes), so the reconciler keeps out of it: the same job id must resume it.
    from scheduler.worker import worker_options

    grace = float(worker_options(settings).get("job_completion_wait") or 0)
    batches = 20
    env = _worker_env(
        settings,
        private_redis,
        tmp_path,
        dispatch_batch_size=55,
        dispatch_pause_seconds=(grace + 5) / batches,
        dispatch_stale_seconds=600,
        reconcile_seconds=1,
    )
    await _prepare(scenario, matching=1_000, env=env, settings=settings)
    total = len(scenario.matching)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        worker.start()
        await _wait_for(scenario.database, scenario.campaign_id, lambda c: c.done > 0, worker)
        worker.signal(signal.SIGTERM)
        assert worker.wait(timeout=grace + 60) == 0  # a clean stop
        interrupted = await _campaign(scenario.database, scenario.campaign_id)
        assert interrupted.status == CampaignStatus.dispatching and 0 < interrupted.done < total

        worker.env = {**env, "CC_CAMPAIGN_DISPATCH_PAUSE_SECONDS": "0"}
        worker.start()
        await _wait_for(
            scenario.database, scenario.campaign_id, lambda c: c.status != CampaignStatus.dispatching, worker
        )
        worker.signal(signal.SIGTERM)
        worker.wait(timeout=grace + 60)
    finally:
        worker.stop()

    campaign = await _assert_dispatched_exactly_once(scenario)
    assert campaign.dispatch_job_id == f"campaign:{scenario.campaign_id}:dispatch"  # the same job, retried
