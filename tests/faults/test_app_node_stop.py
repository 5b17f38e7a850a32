"""Kill one of two app nodes while live clients are connected to both.

The clients of the dead node reconnect to the other one and replay the gap by sequence number; the
dead node's unpublished events are published by the survivor's relay. No client misses an event.
"""

from __future__ import annotations

import pytest

from tests.faults.harness import report, start_traffic, volume, wait_until

pytestmark = pytest.mark.faults_full


async def test_one_of_two_app_nodes_killed_under_100_live_clients_loses_no_event(make_stack):
    stack = await make_stack("nodes")
    traffic = await start_traffic(stack, nodes=2, watchers=volume(20, 100), total=volume(80, 400))
    first, second = stack.nodes
    watcher = traffic.watcher
    try:
        on_first = sum(1 for client in watcher.clients if client.url == first.url)
        assert 0 < on_first < len(watcher.clients)
        await traffic.until_acknowledged(traffic.total // 3)
        first.process.kill()

        async def moved() -> bool:
            return all(client.connected and client.url == second.url for client in watcher.clients)

        await wait_until(moved, what="every client to reconnect to the other node", stack=stack)
        await traffic.task
    finally:
        traffic.task.cancel()
    outcome = await traffic.finish()
    report(outcome.result(f"app node killed ({len(watcher.clients)} live clients, {on_first} on it)"))
    outcome.assert_safe()
