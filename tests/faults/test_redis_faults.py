"""FLUSHALL and restart Redis during traffic: Redis holds queues and fan-out only, so nothing is lost.

The outbox relay keeps unpublished events in the database and retries; live clients fill the gaps by
replay; the worker's reconciler rebuilds every deadline job from SQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from arq.constants import job_key_prefix

from assistance.requests.models import Deadline
from tests.faults.harness import (
    REQUESTER,
    EventWatcher,
    Ledger,
    ScenarioResult,
    Stack,
    Submitter,
    assert_requests_safe,
    create_case,
    report,
    verify_requests,
    volume,
    wait_until,
)


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
    make_stack, fault_backend
):
    stack = await make_stack("redis")
    node = await stack.start_node()
    stack.start_worker()
    token = fault_backend.tokens[REQUESTER]
    case_id, subject_id = await create_case(node.url, token, stack.name)
    watcher = EventWatcher([node.url], token, count=volume(3, 20))
    await watcher.connect()
    ledger = Ledger("redis")
    submitter = Submitter(ledger, [node.url], token, case_id=case_id, subject_id=subject_id)
    total = volume(80, 600)
    traffic = asyncio.create_task(submitter.run(total, concurrency=4, pause=0.02))
    try:
        await wait_until(_acknowledged(ledger, total // 4), what="traffic", stack=stack)
        await stack.redis_client.flushall()
        await wait_until(_acknowledged(ledger, total // 2), what="traffic after FLUSHALL", stack=stack)
        await asyncio.to_thread(stack.redis.stop)
        await asyncio.sleep(volume(1, 3))
        await asyncio.to_thread(stack.redis.start)  # same port, empty: a restart without persistence
        await traffic
    finally:
        traffic.cancel()
    await submitter.run(1, concurrency=1)
    head = await watcher.settle(stack.db)
    events = watcher.check(head)
    await watcher.close()
    check = await verify_requests(stack.db, ledger)
    ids = [a.request_id for a in ledger.acknowledged if a.request_id is not None]

    async def rebuilt() -> bool:
        return await _deadline_jobs_missing(stack, ids) == 0

    await wait_until(rebuilt, what="the reconciler to rebuild the deadline jobs", stack=stack)
    answers = ledger.answers()
    report(
        ScenarioResult(
            "Redis FLUSHALL + restart",
            acknowledged=check.acknowledged,
            stored=check.stored,
            lost=len(check.lost) + events.missing,
            duplicated=check.duplicated,
            delivered=events.delivered,
            replayed=events.replayed,
            notes=" ".join(f"{k}x{v}" for k, v in sorted(answers.items()) if k != "201"),
        )
    )
    assert_requests_safe(check)
    assert check.acknowledged == len(ledger.attempts), (
        f"requests never acknowledged: {answers}\n{stack.logs()}"
    )
    assert "500" not in answers, stack.logs()
    assert events.missing == 0 and events.out_of_order == 0, (events, stack.logs())
    assert stack.worker is not None and stack.worker.alive, stack.worker.tail() if stack.worker else ""


def _acknowledged(ledger: Ledger, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(ledger.acknowledged) >= count

    return check
