"""Restart the (private) PostgreSQL server during traffic.

While it is down, writes answer 503 `database_unavailable` (never a 500), nothing is half-written, and
the app and the worker reconnect by themselves (pool_pre_ping) once it is back; clients that retried
with their Idempotency-Key end up with exactly one stored request each.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.faults.harness import report, start_traffic, volume

pytestmark = pytest.mark.faults_full


async def test_postgres_restart_during_traffic_answers_503_and_loses_or_duplicates_nothing(
    make_stack, fault_backend
):
    if not fault_backend.is_postgres:
        pytest.skip("needs PostgreSQL server binaries for a private cluster")
    postgres = fault_backend.postgres
    assert postgres is not None
    stack = await make_stack("postgres")
    traffic = await start_traffic(stack, watchers=volume(3, 20), total=volume(80, 600))
    node, submitter = stack.nodes[0], traffic.submitter
    probe: httpx.Response | None = None
    try:
        await traffic.until_acknowledged(traffic.total // 3)
        await asyncio.to_thread(postgres.stop, "fast")
        # A write while the server is down: a clear 503 the client may retry.
        async with httpx.AsyncClient(timeout=30) as client:
            probe = await client.post(
                f"{node.url}/api/v1/assistance-requests",
                json=submitter.request_body("postgres:probe"),
                headers={
                    "Authorization": f"Bearer {traffic.token}",
                    "Idempotency-Key": f"probe-{submitter.run_id}",
                },
            )
        await asyncio.sleep(volume(2, 5))
        await asyncio.to_thread(postgres.start)
        await traffic.task
    finally:
        traffic.task.cancel()
        if not postgres.running():
            await asyncio.to_thread(postgres.start)
    outcome = await traffic.finish()
    report(outcome.result("PostgreSQL restart"))
    assert probe is not None and probe.status_code == 503, probe.text if probe else None
    assert probe.json()["error"]["code"] == "database_unavailable"
    outcome.assert_safe()
    assert stack.worker is not None and stack.worker.alive, stack.worker.tail() if stack.worker else ""
