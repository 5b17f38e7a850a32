"""The docker-compose topology as processes on loopback: a password-protected Redis, a database, two app
nodes (`command-center serve`), a worker (`command-center worker`) and HAProxy running the real
deploy/haproxy.cfg with only its addresses rewritten for loopback.

HAProxy comes from Debian (`apt-get install haproxy`). Without it the tests that need the proxy are
skipped with that reason, unless CC_TEST_REQUIRE_PROXY=1 (CI), where its absence is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from redis.exceptions import RedisError

from command_center.identity import second_factor
from command_center.identity import service as identity
from command_center.identity.principal import Role
from command_center.redis_server import find_redis_server, free_port
from command_center.settings import Settings
from tests.command_center.outbox.databases import private_database

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"
COMPOSE_FILE = ROOT / "docker-compose.yml"
NODES = ("app1", "app2")
XIHU = "330106"  # 杭州市西湖区人民法院: asks
GONGSHU_REGION = "330105"  # 拱墅区: the work is there, so 拱墅区人民法院 does it
HANGZHOU = "330100"  # 杭州市中级人民法院: supervises (the common superior)
SECRET_KEY = "deploy-test-secret-" + "x" * 32  # the nodes' secret; TOTP secrets are encrypted with it


def haproxy_binary() -> str:
    """The haproxy executable, or skip (fail under CC_TEST_REQUIRE_PROXY=1) when it is not installed."""
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    reason = "haproxy is not installed (Debian: apt-get install haproxy); the proxy tests need the real proxy"
    if os.environ.get("CC_TEST_REQUIRE_PROXY") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def render_for_loopback(config: str, *, port: int, health_port: int, nodes: dict[str, int]) -> str:
    """deploy/haproxy.cfg with the public bind, the health bind and each app server moved to loopback
    ports; everything else (stickiness, checks, timeouts, rules) is the file as deployed."""

    def replace(pattern: str, replacement: str, text: str) -> str:
        result, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        if count != 1:
            raise AssertionError(f"deploy/haproxy.cfg: expected one match of {pattern!r}, found {count}")
        return result

    config = replace(r"^(\s*bind) :8080\b", rf"\1 127.0.0.1:{port}", config)
    config = replace(r"^(\s*bind) 127\.0\.0\.1:8081\b", rf"\1 127.0.0.1:{health_port}", config)
    for name, node_port in nodes.items():
        config = replace(rf"^(\s*server {name}) {name}:8000\b", rf"\1 127.0.0.1:{node_port}", config)
    return config


@dataclass
class ProxyLog:
    """HAProxy's request log (its stdout), one line per request: `... app/app1 ... "GET /path ..."`."""

    path: Path

    def lines(self) -> list[str]:
        return self.path.read_text(errors="replace").splitlines() if self.path.exists() else []

    def servers_for(self, needle: str) -> list[str]:
        """The server that handled each logged request whose line contains `needle`, in order."""
        servers = []
        for line in self.lines():
            if needle in line:
                match = re.search(r" app/(app\d+|<NOSRV>) ", line)
                if match:
                    servers.append(match.group(1))
        return servers

    async def wait_for(self, needle: str, count: int = 1, timeout: float = 10) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(servers := self.servers_for(needle)) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return servers


@dataclass
class Topology:
    proxy_url: str
    health_url: str
    node_urls: dict[str, str]
    redis_url: str
    settings: Settings
    log: ProxyLog
    tokens: dict[str, str] = field(default_factory=dict)
    staff_cookie: str = ""
    queue_name: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)


def start_redis(directory: Path, password: str) -> tuple[subprocess.Popen[bytes], int]:
    """redis-server on a loopback port that demands `password`, as in docker-compose.yml."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [
            find_redis_server(),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--requirepass", password,
            "--save", "",
            "--appendonly", "no",
            "--maxmemory-policy", "noeviction",
            "--dir", str(directory),
            "--logfile", str(directory / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = Redis(port=port, password=password)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except RedisError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    client.close()
    return process, port


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_ready(
    url: str, process: subprocess.Popen[bytes], path: str = "/readyz", timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url}: the process exited while starting")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url + path)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url}{path} did not answer 200 in {timeout} s")


@pytest.fixture(scope="package")
def haproxy() -> str:
    return haproxy_binary()


@pytest.fixture(scope="package")
async def topology(haproxy: str, settings: Settings, tmp_root: Path) -> AsyncIterator[Topology]:
    """Everything of docker-compose.yml but coturn, started as processes on loopback."""
    from command_center.courts.service import load_courts

    folder = tmp_root / f"deploy-{secrets.token_hex(4)}"
    folder.mkdir()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    node_settings = settings.model_copy(update={"secret_key": SECRET_KEY})
    async with private_database(settings, folder) as db:
        async with db.unit_of_work() as session:
            await load_courts(session)
        tokens = {}
        async with db.unit_of_work() as session:
            for court in (XIHU, HANGZHOU):
                _, tokens[court] = await identity.create_token(session, court_code=court, name="deploy test")
            staff = await identity.create_user(
                session,
                username=f"deploy_cs_{secrets.token_hex(3)}",
                password=secrets.token_hex(16),
                role=Role.command_staff,
                court_code=HANGZHOU,
            )
            # Enrolled in two-factor sign-in, with a session as a sign-in with a code leaves it.
            await second_factor.enroll(session, user_id=staff.id, settings=node_settings, actor_label="test")
            _, staff_cookie = await identity.open_session(
                session, user=staff, settings=node_settings, ip="127.0.0.1", user_agent="deploy test"
            )
        database_url = db.engine.url.render_as_string(hide_password=False)
        try:
            password = secrets.token_hex(16)
            queue_name = f"deploy-test:{secrets.token_hex(4)}"
            redis, redis_port = start_redis(folder / "redis", password)
            processes["redis"] = redis
            redis_url = f"redis://:{password}@127.0.0.1:{redis_port}/0"
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("CC_")},
                "CC_DATABASE_URL": database_url,
                "CC_REDIS_URL": redis_url,
                "CC_SECRET_KEY": SECRET_KEY,
                "CC_VAR_DIR": str(folder / "var"),
                "CC_LOG_LEVEL": "WARNING",
                "CC_LOG_JSON": "false",
                "CC_QUEUE_NAME": queue_name,
            }
            command = [sys.executable, "-m", "command_center"]
            ports = {name: free_port() for name in NODES}
            for name, port in ports.items():
                with (folder / f"{name}.log").open("wb") as out:
                    processes[name] = subprocess.Popen(  # noqa: ASYNC220 - started before anything is measured
                        [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
            with (folder / "worker.log").open("wb") as out:
                processes["worker"] = subprocess.Popen(  # noqa: ASYNC220 - started before anything is measured
                    [*command, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
                )
            node_urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
            for name, url in node_urls.items():
                await wait_ready(url, processes[name])

            proxy_port, health_port = free_port(), free_port()
            config = folder / "haproxy.cfg"
            config.write_text(
                render_for_loopback(
                    HAPROXY_CFG.read_text(), port=proxy_port, health_port=health_port, nodes=ports
                )
            )
            log = ProxyLog(folder / "haproxy.log")
            with log.path.open("wb") as out:
                processes["proxy"] = subprocess.Popen(  # noqa: ASYNC220 - started before anything is measured
                    [haproxy, "-db", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT
                )
            proxy_url = f"http://127.0.0.1:{proxy_port}"
            health_url = f"http://127.0.0.1:{health_port}/proxy-health"
            await wait_ready(proxy_url, processes["proxy"], path="/healthz")
            topology = Topology(
                proxy_url=proxy_url,
                health_url=health_url,
                node_urls=node_urls,
                redis_url=redis_url,
                settings=node_settings.model_copy(
                    update={"database_url": database_url, "redis_url": redis_url}
                ),
                log=log,
                tokens=tokens,
                staff_cookie=staff_cookie,
                queue_name=queue_name,
                processes=processes,
            )
            yield topology
        finally:
            for name in ("proxy", "worker", *NODES, "redis"):
                if name in processes:
                    stop(processes[name])
