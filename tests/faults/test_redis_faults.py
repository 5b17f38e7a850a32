"""FLUSHALL and restart Redis during traffic: Redis holds queues and fan-out only, so nothing is lost.

The outbox relay keeps unpublished events in the database and retries; live clients fill the gaps by
replay; the worker's reconciler rebuilds every deadline job from SQL.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from arq.constants import job_key_prefix

from assistance.requests.models import Deadline
from tests.faults.harness import Stack, report, start_traffic, volume, wait_until


async def _deadline_jobs_missing(stack: Stack, request_ids: list[int]) -> int:
    """Pending deadlines of these requests whose due job is not in Redis."""
    async with stack.db.unit_of_work(read_only=True) as s:
        rows = (
            await s.execute(
                sa.select(Deadline.id, Deadline.version).where(
                    Deadline.subject_type == "request",
                    Deadline.subject_id.in_(request_ids),
                    Deadline.state == "pending",
                )
            )
        ).all()
    redis = stack.redis_client
    async with redis.pipeline(transaction=False) as pipe:
        for row in rows:
            pipe.exists(f"{job_key_prefix}deadline:{row.id}:v{row.version}:due")
        found = await pipe.execute()
    return sum(1 for exists in found if not exists)


async def test_flushall_and_restart_of_redis_during_traffic_lose_no_request_event_or_deadline_job(
    make_stack,
):
    stack = await make_stack("redis")
    traffic = await start_traffic(stack, watchers=volume(3, 20), total=volume(80, 600))
    try:
        await traffic.until_acknowledged(traffic.total // 4)
        await stack.redis_client.flushall()
        await traffic.until_acknowledged(traffic.total // 2)
        await asyncio.to_thread(stack.redis.stop)
        await asyncio.sleep(volume(1, 3))
        await asyncio.to_thread(stack.redis.start)  # same port, empty: a restart without persistence
        await traffic.task
    finally:
        traffic.task.cancel()
    outcome = await traffic.finish()
    ids = [a.request_id for a in traffic.ledger.acknowledged if a.request_id is not None]

    async def rebuilt() -> bool:
        return await _deadline_jobs_missing(stack, ids) == 0

    await wait_until(rebuilt, what="the reconciler to rebuild the deadline jobs", stack=stack)
    report(outcome.result("Redis FLUSHALL + restart"))
    outcome.assert_safe()
    assert stack.worker is not None and stack.worker.alive, stack.worker.tail() if stack.worker else ""
