"""Cut, delay and reset the app's and worker's connections to Redis and PostgreSQL during traffic.

The app node and the worker reach Redis (and PostgreSQL, when the backend is one) through a
FaultProxy. While a link is delayed, reset or cut, clients keep submitting requests and retrying what
was not acknowledged; afterwards every acknowledged request is stored once and whole, and every live
client holds every event of its court room, delivered or replayed.
"""

from __future__ import annotations

import asyncio

from tests.faults.harness import Traffic, report, start_traffic, volume
from tests.faults.proxy import FaultProxy


async def _shake(proxy: FaultProxy, traffic: Traffic, *, cut_seconds: float) -> None:
    """Delay, reset, cut: each while requests are flowing."""
    await traffic.until_acknowledged(len(traffic.ledger.acknowledged) + 5)
    proxy.delay(0.15)
    await asyncio.sleep(1.0)
    proxy.restore()
    await traffic.until_acknowledged(len(traffic.ledger.acknowledged) + 3)
    await proxy.reset()
    await traffic.until_acknowledged(len(traffic.ledger.acknowledged) + 3)
    await proxy.cut()
    await asyncio.sleep(cut_seconds)
    proxy.restore()


async def test_cut_delay_and_reset_of_redis_and_database_links_lose_and_duplicate_nothing(
    make_stack, fault_backend
):
    stack = await make_stack("proxy", redis_proxy=True, db_proxy=fault_backend.is_postgres)
    faults_done = asyncio.Event()
    # Traffic goes on until every fault has been injected and restored.
    traffic = await start_traffic(stack, watchers=volume(3, 20), total=volume(80, 600), until=faults_done)
    try:
        proxies = [p for p in (stack.redis_proxy, stack.db_proxy) if p is not None]
        for proxy in proxies:
            await _shake(proxy, traffic, cut_seconds=volume(2, 5))
        faults_done.set()
        await traffic.task
    finally:
        faults_done.set()
        traffic.task.cancel()
    # One request after every link is back: a client whose last live events were lost sees the gap.
    outcome = await traffic.finish()
    report(outcome.result("proxy cut/delay/reset (Redis" + (", PostgreSQL)" if stack.db_proxy else ")")))
    outcome.assert_safe()
