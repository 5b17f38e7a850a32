"""Kill one of two app nodes while live clients are connected to both.

The clients of the dead node reconnect to the other one and replay the gap by sequence number; the
dead node's unpublished events are published by the survivor's relay. No client misses an event.
"""

from __future__ import annotations

import asyncio

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
    wait_until,
)

pytestmark = pytest.mark.faults_full


async def test_one_of_two_app_nodes_killed_under_100_live_clients_loses_no_event(make_stack, fault_backend):
    stack = await make_stack("nodes")
    first = await stack.start_node()
    second = await stack.start_node()
    stack.start_worker()
    token = fault_backend.tokens[REQUESTER]
    case_id, subject_id = await create_case(second.url, token, stack.name)
    watcher = EventWatcher([first.url, second.url], token, count=volume(20, 100))
    await watcher.connect()
    on_first = sum(1 for client in watcher.clients if client.url == first.url)
    assert 0 < on_first < len(watcher.clients)
    ledger = Ledger("nodes")
    submitter = Submitter(ledger, [first.url, second.url], token, case_id=case_id, subject_id=subject_id)
    total = volume(80, 400)
    traffic = asyncio.create_task(submitter.run(total, concurrency=4, pause=0.02))
    try:
        async with asyncio.timeout(WAIT):
            while len(ledger.acknowledged) < total // 3:
                await asyncio.sleep(0.05)
        first.process.kill()

        async def moved() -> bool:
            return all(client.connected and client.url == second.url for client in watcher.clients)

        await wait_until(moved, what="every client to reconnect to the other node", stack=stack)
        await traffic
    finally:
        traffic.cancel()
    await submitter.run(1, concurrency=1)
    head = await watcher.settle(stack.db)
    events = watcher.check(head)
    await watcher.close()
    check = await verify_requests(stack.db, ledger)
    answers = ledger.answers()
    report(
        ScenarioResult(
            f"app node killed ({len(watcher.clients)} live clients, {on_first} on it)",
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
