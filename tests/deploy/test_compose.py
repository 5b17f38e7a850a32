"""docker-compose.yml and the files it mounts agree with each other and with what the issue asks of the
production topology. (CI also runs `docker compose config -q` on it; these tests read its meaning.)"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import yaml

from command_center.redis_server import free_port
from tests.deploy.conftest import COMPOSE_FILE, HAPROXY_CFG, ROOT, Topology

TURNSERVER_CONF = ROOT / "deploy" / "turnserver.conf"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def test_every_long_running_service_has_a_health_check(services: dict[str, Any]) -> None:
    one_shot = {name for name, s in services.items() if s.get("restart") == "no"}
    assert one_shot == {"migrate"}
    missing = [name for name, s in services.items() if name not in one_shot and "healthcheck" not in s]
    assert missing == []


def test_the_topology_has_two_app_nodes_a_worker_postgres_redis_a_proxy_and_coturn(
    services: dict[str, Any],
) -> None:
    nodes = sorted(name for name, s in services.items() if _command(s)[:2] == ["command-center", "serve"])
    workers = [name for name, s in services.items() if _command(s)[:2] == ["command-center", "worker"]]
    assert nodes == ["app1", "app2"]
    assert workers == ["worker"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["proxy"]["image"].startswith("haproxy:")
    assert services["coturn"]["image"].startswith("coturn/")
    # Only the proxy and coturn are reachable from outside.
    assert sorted(name for name, s in services.items() if s.get("ports")) == ["coturn", "proxy"]


def test_redis_demands_a_password_and_every_client_sends_it(services: dict[str, Any]) -> None:
    command = _command(services["redis"])
    assert command[command.index("--requirepass") + 1] == "${REDIS_PASSWORD:?set REDIS_PASSWORD}"
    for name, service in services.items():
        url = (service.get("environment") or {}).get("CC_REDIS_URL")
        if url is not None:
            assert url.startswith("redis://:${REDIS_PASSWORD"), (name, url)


def test_the_proxy_balances_exactly_the_app_nodes_with_a_sticky_cookie(services: dict[str, Any]) -> None:
    config = HAPROXY_CFG.read_text()
    nodes = sorted(name for name, s in services.items() if _command(s)[:2] == ["command-center", "serve"])
    servers = re.findall(r"^\s*server (\S+) (\S+):8000 cookie (\S+)\s*$", config, flags=re.MULTILINE)
    assert sorted(name for name, _, _ in servers) == nodes
    assert all(name == host == cookie for name, host, cookie in servers)
    assert re.search(r"^\s*cookie CC_NODE insert indirect nocache", config, flags=re.MULTILINE)
    assert "./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in services["proxy"]["volumes"]


def test_coturn_relay_ports_match_the_published_range(services: dict[str, Any]) -> None:
    conf = TURNSERVER_CONF.read_text()
    low = re.search(r"^min-port=(\d+)$", conf, flags=re.MULTILINE)
    high = re.search(r"^max-port=(\d+)$", conf, flags=re.MULTILINE)
    assert low and high
    assert f"{low.group(1)}-{high.group(1)}:{low.group(1)}-{high.group(1)}/udp" in services["coturn"]["ports"]
    subnet = yaml.safe_load(COMPOSE_FILE.read_text())["networks"]["backend"]["ipam"]["config"][0]["subnet"]
    assert subnet == "172.28.0.0/16"
    assert "allowed-peer-ip=172.28.0.0-172.28.255.255" in conf


def _shell_check(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD", test
    return test[1:]


async def test_the_proxy_health_check_of_the_compose_file_passes_against_the_running_proxy(
    services: dict[str, Any], topology: Topology
) -> None:
    """The proxy container's check command, run here against the loopback proxy's monitor port."""
    port = topology.health_url.split(":")[2].split("/")[0]
    command = [
        part.replace("/127.0.0.1/8081", f"/127.0.0.1/{port}") for part in _shell_check(services["proxy"])
    ]
    assert command != _shell_check(services["proxy"]), "the check no longer names port 8081"
    process = await asyncio.create_subprocess_exec(*command)
    assert await asyncio.wait_for(process.wait(), 10) == 0
    # And it fails where no proxy answers.
    closed = [part.replace(f"/127.0.0.1/{port}", f"/127.0.0.1/{free_port()}") for part in command]
    process = await asyncio.create_subprocess_exec(*closed, stderr=asyncio.subprocess.DEVNULL)
    assert await asyncio.wait_for(process.wait(), 10) != 0
