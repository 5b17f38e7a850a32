"""Fault tests against a real worker process (`python -m command_center worker`) and a real Redis.

The rows are committed (the worker is another process) and removed again afterwards, with the audit
chain, the outbox and the room counters put back as they were. Batches are smaller on SQLite, whose
single writer makes every firing wait its turn.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from arq.connections import ArqRedis, RedisSettings, create_pool

from assistance.cases.models import CaseParty, EnforcementCase
from assistance.escalations.models import DeadlineFiring, Escalation, SupervisionOrder
from assistance.requests.models import AssistanceRequest, Deadline
from command_center.audit.models import AuditEntry, AuditHead
from command_center.audit.service import verify
from command_center.calendar.periods import SHANGHAI
from command_center.db import Database, utcnow
from command_center.outbox.models import OutboxEvent, RoomSequence
from command_center.settings import PROJECT_ROOT, Settings
from scheduler.deadlines import as_utc

from .conftest import flush

REQUESTER, TARGET, SUPERVISOR = "330106", "330102", "330100"
_serial = itertools.count(1)


# --- committed rows, and putting everything back ----------------------------------------------------


@dataclass
class Committed:
    """Rows this test committed, and what the shared tables looked like before."""

    database: Database
    case_id: int | None = None
    party_id: int | None = None
    request_ids: list[int] = field(default_factory=list)
    deadline_ids: list[int] = field(default_factory=list)
    audit_head: tuple[int, str] | None = None
    outbox_max_id: int = 0
    room_seqs: dict[str, int] = field(default_factory=dict)

    async def add_file_deadlines(self, ends: list[datetime], *, due_on: date | None = None) -> list[int]:
        """Routed requests, each with a pending filing deadline ending at the given instant (last day:
        `due_on`, else the day before that instant in Asia/Shanghai)."""
        now = utcnow()
        async with self.database.unit_of_work() as s:
            if self.case_id is None:
                self.case_id = (
                    await s.execute(
                        sa.insert(EnforcementCase.__table__).returning(EnforcementCase.__table__.c.id),
                        {
                            "case_number": f"(2026)浙0106执{900000 + next(_serial)}号-{uuid.uuid4().hex[:6]}",
                            "court_code": REQUESTER,
                            "category": "wages",
                            "status": "open",
                            "priority": "high",
                            "amount_claimed": 100_000,
                            "amount_recovered": 0,
                            "filed_on": now.date(),
                            "created_by": "test",
                            "created_at": now,
                            "updated_at": now,
                            "version": 1,
                        },
                    )
                ).scalar_one()
                self.party_id = (
                    await s.execute(
                        sa.insert(CaseParty.__table__).returning(CaseParty.__table__.c.id),
                        {
                            "case_id": self.case_id,
                            "role": "respondent",
                            "name": "测试被执行人",
                            "kind": "person",
                            "id_number": "330106198001010011",
                        },
                    )
                ).scalar_one()
            request_rows = [
                {
                    "case_id": self.case_id,
                    "requesting_court": REQUESTER,
                    "target_court": TARGET,
                    "supervising_court": SUPERVISOR,
                    "matter_type": "freeze_deposits",
                    "subject_id": self.party_id,
                    "region_code": TARGET,
                    "address": "杭州市上城区",
                    "urgency": "normal",
                    "description": "",
                    "materials": ["ruling"],
                    "status": "routed",
                    "version": 1,
                    "created_by": "test",
                    "created_at": now,
                    "updated_at": now,
                    "routed_on": (end - timedelta(days=8)).astimezone(SHANGHAI).date(),
                }
                for end in ends
            ]
            table = AssistanceRequest.__table__
            request_ids = list(
                (
                    await s.execute(
                        sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), request_rows
                    )
                ).scalars()
            )
            deadline_rows = [
                {
                    "subject_type": "request",
                    "subject_id": request_id,
                    "kind": "file",
                    "started_on": (end - timedelta(days=8)).astimezone(SHANGHAI).date(),
                    "due_on": due_on or (end - timedelta(seconds=1)).astimezone(SHANGHAI).date(),
                    "ends_at": end.astimezone(UTC),
                    "provisional": False,
                    "rule": "test: 法释〔2011〕11号 art. 9",
                    "state": "pending",
                    "version": 1,
                    "created_at": now - timedelta(hours=1),
                }
                for request_id, end in zip(request_ids, ends, strict=True)
            ]
            table = Deadline.__table__
            deadline_ids = list(
                (
                    await s.execute(
                        sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), deadline_rows
                    )
                ).scalars()
            )
        self.request_ids += request_ids
        self.deadline_ids += deadline_ids
        return deadline_ids


@pytest.fixture
async def committed(database: Database) -> AsyncIterator[Committed]:
    made = Committed(database)
    async with database.unit_of_work(read_only=True) as s:
        head = (await s.execute(sa.select(AuditHead.seq, AuditHead.hash))).first()
        made.audit_head = (head.seq, head.hash) if head else None
        made.outbox_max_id = await s.scalar(sa.select(sa.func.max(OutboxEvent.id))) or 0
        made.room_seqs = dict((await s.execute(sa.select(RoomSequence.room, RoomSequence.last_seq))).all())
    yield made
    await _remove(made)


async def _remove(made: Committed) -> None:
    def chunks(ids: list[int]) -> list[list[int]]:
        return [ids[i : i + 500] for i in range(0, len(ids), 500)]

    async with made.database.unit_of_work() as s:
        for ids in chunks(made.deadline_ids):
            escalations = sa.select(Escalation.id).where(Escalation.deadline_id.in_(ids))
            await s.execute(
                sa.delete(SupervisionOrder).where(SupervisionOrder.escalation_id.in_(escalations))
            )
            await s.execute(sa.delete(Escalation).where(Escalation.deadline_id.in_(ids)))
            await s.execute(sa.delete(DeadlineFiring).where(DeadlineFiring.deadline_id.in_(ids)))
            await s.execute(sa.delete(Deadline).where(Deadline.id.in_(ids)))
        for ids in chunks(made.request_ids):
            await s.execute(sa.delete(AssistanceRequest).where(AssistanceRequest.id.in_(ids)))
        if made.case_id is not None:
            await s.execute(sa.delete(CaseParty).where(CaseParty.case_id == made.case_id))
            await s.execute(sa.delete(EnforcementCase).where(EnforcementCase.id == made.case_id))
        # The worker appended to the audit chain and the outbox after the snapshot; cut both back to it.
        await s.execute(sa.delete(OutboxEvent).where(OutboxEvent.id > made.outbox_max_id))
        if made.audit_head is None:
            await s.execute(sa.delete(AuditEntry))
            await s.execute(sa.delete(AuditHead))
        else:
            seq, hash_ = made.audit_head
            await s.execute(sa.delete(AuditEntry).where(AuditEntry.seq > seq))
            await s.execute(sa.update(AuditHead).values(seq=seq, hash=hash_))
        await s.execute(sa.delete(RoomSequence).where(RoomSequence.room.not_in(list(made.room_seqs) or [""])))
        for room, last_seq in made.room_seqs.items():
            await s.execute(
                sa.update(RoomSequence).where(RoomSequence.room == room).values(last_seq=last_seq)
            )


# --- the worker process --------------------------------------------------------------------------------


class WorkerProcess:
    """`python -m command_center worker` with the test's database, Redis and queue; output to a file."""

    def __init__(self, settings: Settings, redis_url: str, queue_name: str, log_path: Path) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CC_")},
            "CC_ENV": "test",
            "CC_DATABASE_URL": settings.database_url,
            "CC_REDIS_URL": redis_url,
            "CC_QUEUE_NAME": queue_name,
            "CC_SECRET_KEY": settings.secret_key,
            "CC_LOG_JSON": "false",
            "CC_LOG_LEVEL": "INFO",
            "CC_VAR_DIR": str(settings.var_dir),
            "CC_RECONCILE_INTERVAL_SECONDS": "1",
            "CC_RECONCILE_SETTLE_SECONDS": "0",
            "CC_DEADLINE_JOB_TIMEOUT_SECONDS": "20",
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "command_center", "worker"],
                env=self.env,
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    async def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, then the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(
                    f"the worker did not stop within {timeout} s of SIGTERM\n{self.log_tail()}"
                )
            await asyncio.sleep(0.1)
        return self.process.returncode

    def stop_quietly(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def check_health(self) -> int:
        """`arq --check scheduler.worker.WorkerSettings`: 0 while the worker's health key is fresh."""
        return subprocess.run(
            [sys.executable, "-m", "arq", "--check", "scheduler.worker.WorkerSettings"],
            env=self.env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            timeout=60,
            check=False,
        ).returncode

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


@pytest.fixture
async def fault_redis(private_redis: Any) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(private_redis.url))
    await flush(pool)
    yield pool
    await flush(pool)
    await pool.aclose()


@pytest.fixture
def worker(settings: Settings, private_redis: Any, tmp_path: Path) -> Any:
    queue_name = f"faults:{uuid.uuid4().hex[:8]}"
    process = WorkerProcess(settings, private_redis.url, queue_name, tmp_path / "worker.log")
    yield process
    process.stop_quietly()


# --- reading progress ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    escalations: int  # escalation rows for the deadlines
    escalated: int  # distinct deadlines with an escalation
    missed: int  # deadlines in state missed
    pending: int
    due_firings: int
    reminder_firings: int
    torn: int  # deadlines whose state and escalation disagree (must always be 0)


async def progress(database: Database, deadline_ids: list[int]) -> Progress:
    totals = dict.fromkeys(("escalations", "escalated", "missed", "pending", "due", "reminder", "torn"), 0)
    async with database.unit_of_work(read_only=True) as s:
        for i in range(0, len(deadline_ids), 500):
            ids = deadline_ids[i : i + 500]
            counts = (
                await s.execute(
                    sa.select(
                        sa.func.count(Escalation.id), sa.func.count(sa.distinct(Escalation.deadline_id))
                    ).where(Escalation.deadline_id.in_(ids))
                )
            ).one()
            totals["escalations"] += counts[0]
            totals["escalated"] += counts[1]
            states = dict(
                (
                    await s.execute(
                        sa.select(Deadline.state, sa.func.count())
                        .where(Deadline.id.in_(ids))
                        .group_by(Deadline.state)
                    )
                ).all()
            )
            totals["missed"] += states.get("missed", 0)
            totals["pending"] += states.get("pending", 0)
            firings = dict(
                (
                    await s.execute(
                        sa.select(DeadlineFiring.purpose, sa.func.count())
                        .where(DeadlineFiring.deadline_id.in_(ids))
                        .group_by(DeadlineFiring.purpose)
                    )
                ).all()
            )
            totals["due"] += firings.get("due", 0)
            totals["reminder"] += firings.get("reminder", 0)
            has_escalation = sa.exists().where(Escalation.deadline_id == Deadline.id)
            totals["torn"] += await s.scalar(
                sa.select(sa.func.count())
                .select_from(Deadline)
                .where(
                    Deadline.id.in_(ids),
                    sa.or_(
                        sa.and_(Deadline.state == "missed", ~has_escalation),
                        sa.and_(Deadline.state == "pending", has_escalation),
                    ),
                )
            )
    return Progress(
        totals["escalations"],
        totals["escalated"],
        totals["missed"],
        totals["pending"],
        totals["due"],
        totals["reminder"],
        totals["torn"],
    )


async def wait_for(
    check: Callable[[], Awaitable[bool]], *, timeout: float, what: str, worker: WorkerProcess
) -> None:
    stop_at = time.monotonic() + timeout
    while not await check():
        if worker.process is not None and worker.process.poll() is not None:
            raise AssertionError(
                f"the worker exited ({worker.process.returncode}) before {what}\n{worker.log_tail()}"
            )
        if time.monotonic() > stop_at:
            raise AssertionError(f"timed out waiting for {what}\n{worker.log_tail()}")
        await asyncio.sleep(0.25)


def batch_size(is_postgres: bool, *, postgres: int, sqlite: int) -> int:
    return postgres if is_postgres else sqlite


async def assert_each_escalated_once(database: Database, made: Committed) -> None:
    ids = made.deadline_ids
    done = await progress(database, ids)
    assert (done.escalations, done.escalated, done.missed, done.due_firings) == (len(ids),) * 4
    assert done.torn == 0
    async with database.unit_of_work(read_only=True) as s:
        audits = 0
        opened = 0
        for i in range(0, len(made.request_ids), 500):
            ids_ = [str(r) for r in made.request_ids[i : i + 500]]
            audits += await s.scalar(
                sa.select(sa.func.count()).where(
                    AuditEntry.action == "deadline.missed",
                    AuditEntry.subject_type == "assistance_request",
                    AuditEntry.subject_id.in_(ids_),
                )
            )
        opened = await s.scalar(
            sa.select(sa.func.count(sa.distinct(OutboxEvent.event_id))).where(
                OutboxEvent.name == "escalation:opened", OutboxEvent.id > made.outbox_max_id
            )
        )
        chain = await verify(s)
    assert audits == len(ids)
    assert opened == len(ids)
    assert chain.ok, chain


# --- the faults -------------------------------------------------------------------------------------------


async def test_kill_9_during_a_batch_of_due_deadlines_then_restart_escalates_each_exactly_once(
    committed, worker, fault_redis, database, is_postgres
):
    count = batch_size(is_postgres, postgres=2000, sqlite=200)
    ended = utcnow() - timedelta(hours=1)
    ids = await committed.add_file_deadlines([ended] * count)

    worker.start()

    async def some_done() -> bool:
        return (await progress(database, ids)).escalations >= count // 4

    await wait_for(some_done, timeout=600, what="a quarter of the batch", worker=worker)
    worker.kill()
    at_kill = await progress(database, ids)
    assert 0 < at_kill.escalations < count, "the kill did not land mid-batch"
    # Every firing is one transaction: nothing is half done.
    assert at_kill.torn == 0 and at_kill.escalations == at_kill.escalated == at_kill.missed

    worker.start()

    async def all_done() -> bool:
        return (await progress(database, ids)).missed == count

    await wait_for(all_done, timeout=1200, what="the whole batch after the restart", worker=worker)
    await asyncio.sleep(1.5)  # any job still running or queued twice would show up now
    await assert_each_escalated_once(database, committed)
    assert await worker.terminate() == 0, worker.log_tail(60)


async def test_flushall_mid_run_loses_no_deadline_and_fires_none_early(
    committed, worker, fault_redis, database, is_postgres
):
    count = batch_size(is_postgres, postgres=500, sqlite=120)
    future = 40
    queue = worker.env["CC_QUEUE_NAME"]
    # Deadlines ending 60-65 s from now, whose last day is today: their reminders are due at once.
    now = utcnow()
    ends = [now + timedelta(seconds=60 + i * 5 / future) for i in range(future)]
    future_ids = await committed.add_file_deadlines(ends, due_on=now.astimezone(SHANGHAI).date())
    future_jobs = [f"deadline:{i}:v1:due" for i in future_ids]

    worker.start()

    async def scheduled_and_reminded() -> bool:
        scores = [await fault_redis.zscore(queue, job) for job in future_jobs]
        reminded = (await progress(database, future_ids)).reminder_firings
        return all(score is not None for score in scores) and reminded == future

    await wait_for(scheduled_and_reminded, timeout=60, what="the schedule and the reminders", worker=worker)

    # Then a batch of deadlines that have already ended, and FLUSHALL while it is being worked off.
    ended_ids = await committed.add_file_deadlines([utcnow() - timedelta(hours=1)] * count)

    async def running() -> bool:
        return (await progress(database, ended_ids)).escalations >= max(count // 10, 5)

    await wait_for(running, timeout=600, what="the batch to get going", worker=worker)
    await fault_redis.flushall()
    assert await fault_redis.zcard(queue) == 0
    assert (await progress(database, ended_ids)).pending > 0, "the flush did not land mid-batch"
    assert (await progress(database, future_ids)).pending == future, (
        "the flush came after the deadlines ended"
    )

    async def all_done() -> bool:
        return (await progress(database, committed.deadline_ids)).missed == count + future

    await wait_for(all_done, timeout=1200, what="every deadline after FLUSHALL", worker=worker)
    await asyncio.sleep(1.5)
    await assert_each_escalated_once(database, committed)
    # Reminded once before the flush; the rebuilt schedule's reminder jobs found that and did nothing.
    assert (await progress(database, future_ids)).reminder_firings == future
    async with database.unit_of_work(read_only=True) as s:
        rows = (
            await s.execute(
                sa.select(Escalation.created_at, Deadline.ends_at)
                .join(Deadline, Deadline.id == Escalation.deadline_id)
                .where(Deadline.id.in_(future_ids))
            )
        ).all()
    assert len(rows) == future
    assert all(as_utc(created) >= as_utc(ends_at) for created, ends_at in rows), "a deadline fired early"
    assert await worker.terminate() == 0, worker.log_tail(60)


async def test_sigterm_stops_the_worker_cleanly_and_a_restart_finishes_the_batch(
    committed, worker, fault_redis, database, is_postgres
):
    count = batch_size(is_postgres, postgres=300, sqlite=100)
    ids = await committed.add_file_deadlines([utcnow() - timedelta(hours=1)] * count)
    assert worker.check_health() == 1  # no worker yet

    worker.start()

    async def healthy() -> bool:
        return await asyncio.to_thread(worker.check_health) == 0

    await wait_for(healthy, timeout=60, what="the health check to pass", worker=worker)

    async def some_done() -> bool:
        return (await progress(database, ids)).escalations >= 20

    await wait_for(some_done, timeout=600, what="the first escalations", worker=worker)
    assert await worker.terminate() == 0, worker.log_tail(60)
    assert "shutdown on SIGTERM" in worker.log_path.read_text(errors="replace")
    stopped = await progress(database, ids)
    assert stopped.torn == 0 and stopped.escalations == stopped.escalated == stopped.missed
    assert worker.check_health() == 1  # the worker removed its health key on the way out

    worker.start()

    async def all_done() -> bool:
        return (await progress(database, ids)).missed == count

    await wait_for(all_done, timeout=1200, what="the rest of the batch", worker=worker)
    await assert_each_escalated_once(database, committed)
    assert await worker.terminate() == 0, worker.log_tail(60)
