"""Restart the (private) PostgreSQL server during traffic.

While it is down, writes answer 503 `database_unavailable` (never a 500), nothing is half-written, and
the app and the worker reconnect by themselves (pool_pre_ping) once it is back; clients that retried
with their Idempotency-Key end up with exactly one stored request each.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.faults.harness import (
    REQUESTER,
    WAIT,
    EventWatcher,
    Ledger,
    ScenarioResult,
    Submitter,
    assert_requests_safe,
    create_case,
    report,
    verify_requests,
    volume,
)

pytestmark = pytest.mark.faults_full


async def test_postgres_restart_during_traffic_answers_503_and_loses_or_duplicates_nothing(
    make_stack, fault_backend
):
    if not fault_backend.is_postgres:
        pytest.skip("needs PostgreSQL server binaries for a private cluster")
    postgres = fault_backend.postgres
    assert postgres is not None
    stack = await make_stack("postgres")
    node = await stack.start_node()
    stack.start_worker()
    token = fault_backend.tokens[REQUESTER]
    case_id, subject_id = await create_case(node.url, token, stack.name)
    watcher = EventWatcher([node.url], token, count=volume(3, 20))
    await watcher.connect()
    ledger = Ledger("postgres")
    submitter = Submitter(ledger, [node.url], token, case_id=case_id, subject_id=subject_id)
    total = volume(80, 600)
    traffic = asyncio.create_task(submitter.run(total, concurrency=4, pause=0.02))
    probe: httpx.Response | None = None
    try:
        async with asyncio.timeout(WAIT):
            while len(ledger.acknowledged) < total // 3:
                await asyncio.sleep(0.05)
        await asyncio.to_thread(postgres.stop, "fast")
        # A write while the server is down: a clear 503 the client may retry.
        async with httpx.AsyncClient(timeout=30) as client:
            probe = await client.post(
                f"{node.url}/api/v1/assistance-requests",
                json=submitter.request_body("postgres:probe"),
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"probe-{submitter.run_id}"},
            )
        await asyncio.sleep(volume(2, 5))
        await asyncio.to_thread(postgres.start)
        await traffic
    finally:
        traffic.cancel()
        if not postgres.running():
            await asyncio.to_thread(postgres.start)
    await submitter.run(1, concurrency=1)
    head = await watcher.settle(stack.db)
    events = watcher.check(head)
    await watcher.close()
    check = await verify_requests(stack.db, ledger)
    answers = ledger.answers()
    report(
        ScenarioResult(
            "PostgreSQL restart",
            acknowledged=check.acknowledged,
            stored=check.stored,
            lost=len(check.lost) + events.missing,
            duplicated=check.duplicated,
            delivered=events.delivered,
            replayed=events.replayed,
            notes=" ".join(f"{k}x{v}" for k, v in sorted(answers.items()) if k != "201"),
        )
    )
    assert probe is not None and probe.status_code == 503, probe.text if probe else None
    assert probe.json()["error"]["code"] == "database_unavailable"
    assert_requests_safe(check)
    assert check.acknowledged == len(ledger.attempts), (
        f"requests never acknowledged: {answers}\n{stack.logs()}"
    )
    assert "500" not in answers, stack.logs()
    assert events.missing == 0 and events.out_of_order == 0, (events, stack.logs())
    assert stack.worker is not None and stack.worker.alive, stack.worker.tail() if stack.worker else ""
