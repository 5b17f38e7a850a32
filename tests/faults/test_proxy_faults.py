"""Cut, delay and reset the app's and worker's connections to Redis and PostgreSQL during traffic.

The app node and the worker reach Redis (and PostgreSQL, when the backend is one) through a
FaultProxy. While a link is delayed, reset or cut, clients keep submitting requests and retrying what
was not acknowledged; afterwards every acknowledged request is stored once and whole, and every live
client holds every event of its court room, delivered or replayed.
"""

from __future__ import annotations

import asyncio

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
from tests.faults.proxy import FaultProxy


async def _until_acknowledged(ledger: Ledger, count: int) -> None:
    async with asyncio.timeout(WAIT):
        while len(ledger.acknowledged) < count:
            await asyncio.sleep(0.05)


async def _shake(proxy: FaultProxy, ledger: Ledger, *, cut_seconds: float) -> None:
    """Delay, reset, cut: each while requests are flowing."""
    await _until_acknowledged(ledger, len(ledger.acknowledged) + 5)
    proxy.delay(0.15)
    await asyncio.sleep(1.0)
    proxy.restore()
    await _until_acknowledged(ledger, len(ledger.acknowledged) + 3)
    await proxy.reset()
    await _until_acknowledged(ledger, len(ledger.acknowledged) + 3)
    await proxy.cut()
    await asyncio.sleep(cut_seconds)
    proxy.restore()


async def test_cut_delay_and_reset_of_redis_and_database_links_lose_and_duplicate_nothing(
    make_stack, fault_backend
):
    stack = await make_stack("proxy", redis_proxy=True, db_proxy=fault_backend.is_postgres)
    node = await stack.start_node()
    stack.start_worker()
    token = fault_backend.tokens[REQUESTER]
    case_id, subject_id = await create_case(node.url, token, stack.name)
    watcher = EventWatcher([node.url], token, count=volume(3, 20))
    await watcher.connect()
    ledger = Ledger("proxy")
    submitter = Submitter(ledger, [node.url], token, case_id=case_id, subject_id=subject_id)
    faults_done = asyncio.Event()
    # Traffic goes on until every fault has been injected and restored.
    traffic = asyncio.create_task(
        submitter.run(volume(80, 600), concurrency=4, pause=0.02, until=faults_done)
    )
    try:
        proxies = [p for p in (stack.redis_proxy, stack.db_proxy) if p is not None]
        for proxy in proxies:
            await _shake(proxy, ledger, cut_seconds=volume(2, 5))
        faults_done.set()
        await traffic
    finally:
        faults_done.set()
        traffic.cancel()
    # One request after every link is back: a client whose last live events were lost sees the gap.
    await submitter.run(1, concurrency=1)
    head = await watcher.settle(stack.db)
    events = watcher.check(head)
    await watcher.close()
    check = await verify_requests(stack.db, ledger)
    answers = ledger.answers()
    report(
        ScenarioResult(
            "proxy cut/delay/reset (Redis" + (", PostgreSQL)" if stack.db_proxy else ")"),
            acknowledged=check.acknowledged,
            stored=check.stored,
            lost=len(check.lost) + events.missing,
            duplicated=check.duplicated,
            delivered=events.delivered,
            replayed=events.replayed,
            notes=" ".join(f"{k}x{v}" for k, v in sorted(answers.items()) if k not in ("201",)),
        )
    )
    assert_requests_safe(check)
    assert check.acknowledged == len(ledger.attempts), (
        f"requests never acknowledged: {answers}\n{stack.logs()}"
    )
    assert "500" not in answers, stack.logs()
    assert events.missing == 0 and events.out_of_order == 0, (events, stack.logs())
