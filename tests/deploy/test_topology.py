"""The multi-node topology of docker-compose.yml, run as processes on loopback behind the real HAProxy
configuration: stickiness holds a Socket.IO client on one node from long-polling through the WebSocket
upgrade, events cross nodes through Redis, and the health checks the compose file uses answer."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest
import socketio
from yarl import URL

from tests.deploy.conftest import GONGSHU_REGION, HANGZHOU, HAPROXY_CFG, NODES, XIHU, Topology

ENGINE_IO = "/socket.io/?EIO=4&transport=polling"


def test_the_deployed_haproxy_config_is_valid(haproxy: str) -> None:
    # The file exactly as docker-compose.yml mounts it (the app hosts need not resolve here).
    result = subprocess.run(
        [haproxy, "-c", "-f", str(HAPROXY_CFG)], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_the_proxy_reports_its_health_and_hides_metrics(topology: Topology) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(topology.health_url)).status_code == 200
        assert (await client.get(topology.proxy_url + "/metrics")).status_code == 404
        assert (await client.get(topology.node_urls["app1"] + "/metrics")).status_code == 200
        ready = await client.get(topology.proxy_url + "/readyz")
    assert ready.status_code == 200
    assert "CC_NODE" in ready.cookies


async def _open_polling_session(client: httpx.AsyncClient, url: str) -> tuple[str, str]:
    """Opens an Engine.IO long-polling session through the proxy; returns its sid and CC_NODE cookie."""
    response = await client.get(url + ENGINE_IO)
    assert response.status_code == 200, response.text
    assert response.text.startswith("0"), response.text
    sid = json.loads(response.text[1:])["sid"]
    return sid, response.cookies["CC_NODE"]


async def test_long_polling_needs_the_sticky_cookie(topology: Topology) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        sid, node = await _open_polling_session(client, topology.proxy_url)
        assert node in NODES
    # With the cookie every request of the session reaches the node that holds it.
    async with httpx.AsyncClient(timeout=10, cookies={"CC_NODE": node}) as client:
        for _ in range(4):
            answer = await client.post(f"{topology.proxy_url}{ENGINE_IO}&sid={sid}", content="3")
            assert answer.status_code == 200, answer.text
    async with httpx.AsyncClient(timeout=10) as client:
        # Without it, round robin sends some to the other node, which does not know the session.
        statuses = []
        for _ in range(4):
            answer = await client.post(f"{topology.proxy_url}{ENGINE_IO}&sid={sid}", content="3")
            statuses.append(answer.status_code)
            client.cookies.clear()
    assert 400 in statuses and 200 in statuses, statuses
    served = await topology.log.wait_for(f"sid={sid}", count=8)
    assert served[:4] == [node] * 4
    assert set(served[4:8]) == set(NODES)


@pytest.fixture
async def jar_session() -> AsyncIterator[aiohttp.ClientSession]:
    # aiohttp's default jar ignores cookies of IP addresses; the proxy here is 127.0.0.1.
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    yield session
    await session.close()


def _node_cookie(session: aiohttp.ClientSession, url: str) -> str:
    cookies = session.cookie_jar.filter_cookies(URL(url))
    assert "CC_NODE" in cookies, f"the proxy set no CC_NODE cookie: {list(cookies)}"
    return cookies["CC_NODE"].value


async def test_a_socketio_client_stays_on_one_node_from_polling_through_the_upgrade(
    topology: Topology, jar_session: aiohttp.ClientSession
) -> None:
    sio = socketio.AsyncClient(reconnection=False, http_session=jar_session)
    probe = os.urandom(6).hex()  # carried in the query string of every request of this client
    await sio.connect(
        f"{topology.proxy_url}?probe={probe}",
        namespaces=["/live"],
        auth={"token": topology.tokens[XIHU]},
        transports=["polling", "websocket"],
        wait_timeout=15,
    )
    try:
        async with asyncio.timeout(15):
            while sio.transport() != "websocket":
                await asyncio.sleep(0.05)
        assert (await sio.call("ping", {}, namespace="/live", timeout=10))["ok"] is True
    finally:
        await sio.disconnect()
    node = _node_cookie(jar_session, topology.proxy_url)
    # HAProxy logs a WebSocket when its tunnel closes, after the disconnect.
    await topology.log.wait_for(f"probe={probe}", count=2)
    lines = [line for line in topology.log.lines() if f"probe={probe}" in line]
    assert any("transport=polling" in line for line in lines), lines
    assert any("transport=websocket" in line and " 101 " in line for line in lines), lines
    assert set(topology.log.servers_for(f"probe={probe}")) == {node}, lines


async def _file_case(client: httpx.AsyncClient) -> tuple[int, int]:
    from datetime import date

    from assistance.cases.identities import make_credit_code, make_resident_id

    serial = int.from_bytes(os.urandom(2), "big") % 9000 + 1000
    response = await client.post(
        "/api/v1/cases",
        json={
            "case_number": f"(2026)浙0106执{serial}号",
            "category": "wages",
            "applicant": {
                "name": "张伟",
                "kind": "person",
                "id_number": make_resident_id(XIHU, date(1980, 1, 2), 3),
            },
            "respondents": [
                {
                    "name": "杭州某建筑工程有限公司",
                    "kind": "organization",
                    "id_number": make_credit_code(XIHU, serial),
                }
            ],
            "amount_claimed": 1_000_000,
            "filed_on": "2026-03-02",
        },
    )
    assert response.status_code == 201, response.text
    data = response.json()
    return data["id"], data["respondents"][0]["id"]


async def test_a_request_through_the_proxy_reaches_a_dashboard_on_the_other_node(
    topology: Topology, jar_session: aiohttp.ClientSession
) -> None:
    # The dashboard: command staff of the supervising court, signed in (session cookie), via the proxy.
    jar_session.cookie_jar.update_cookies({"cc_session": topology.staff_cookie}, URL(topology.proxy_url))
    heard: list[tuple[str, Any]] = []
    sio = socketio.AsyncClient(reconnection=False, http_session=jar_session)
    sio.on("*", lambda event, data=None: heard.append((event, data)), namespace="/live")
    await sio.connect(
        topology.proxy_url, namespaces=["/live"], transports=["polling", "websocket"], wait_timeout=15
    )
    try:
        ack = await sio.call("resume", {"rooms": {}}, namespace="/live", timeout=10)
        assert {f"court:{HANGZHOU}", f"subtree:{HANGZHOU}"} <= set(ack["rooms"]), ack
        dashboard_node = _node_cookie(jar_session, topology.proxy_url)
        other = next(n for n in NODES if n != dashboard_node)

        # The court system's calls are pinned to the other node by its cookie.
        async with httpx.AsyncClient(
            base_url=topology.proxy_url,
            headers={"Authorization": f"Bearer {topology.tokens[XIHU]}"},
            cookies={"CC_NODE": other},
            timeout=30,
        ) as court_system:
            case_id, subject_id = await _file_case(court_system)
            key = os.urandom(8).hex()
            response = await court_system.post(
                "/api/v1/assistance-requests",
                headers={"Idempotency-Key": key},
                json={
                    "case_id": case_id,
                    "matter_type": "freeze_deposits",
                    "subject_id": subject_id,
                    "location": {"region_code": GONGSHU_REGION, "address": "湖墅南路1号"},
                    "description": "请协助冻结存款。",
                    "materials": ["ruling", "assistance_notice"],
                },
            )
        assert response.status_code == 201, response.text
        request = response.json()
        assert request["supervising_court"]["code"] == HANGZHOU

        def routed() -> bool:
            return any(
                event == "assistance:routed"
                and isinstance(data, dict)
                and data["data"]["id"] == request["id"]
                for event, data in heard
            )

        async with asyncio.timeout(20):
            while not routed():
                await asyncio.sleep(0.05)
    finally:
        await sio.disconnect()
    assert await topology.log.wait_for("POST /api/v1/assistance-requests") == [other]


async def test_the_worker_health_check_of_the_compose_file_answers(topology: Topology) -> None:
    """`arq --check scheduler.worker.WorkerSettings`, the worker's health check in docker-compose.yml:
    healthy while the worker runs, unhealthy for a queue no worker serves."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    env["CC_REDIS_URL"] = topology.redis_url
    queue = topology.queue_name
    arq = [sys.executable, "-m", "arq", "--check", "scheduler.worker.WorkerSettings"]

    async def check(queue_name: str) -> int:
        process = await asyncio.create_subprocess_exec(
            *arq,
            env={**env, "CC_QUEUE_NAME": queue_name},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return await process.wait()

    healthy = 1
    async with asyncio.timeout(30):  # the worker writes its health key within its first 10 s
        while (healthy := await check(queue)) != 0:
            await asyncio.sleep(1)
    assert healthy == 0
    assert await check(queue + ":nobody") == 1
