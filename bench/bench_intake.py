"""Assistance-request intake over HTTP, against a bare Starlette JSON endpoint on the same server.

One uvicorn server in a process of its own runs the real app with one extra route mounted:
`POST /bench/bare` parses the JSON body and answers it back (same middleware, same server, no work).
`POST /api/v1/assistance-requests` does the whole intake: API-token authentication, validation,
idempotency key, routing, the three statutory deadlines, audit entry, outbox event, one transaction.
CLIENTS concurrent httpx clients in this process send PER_CLIENT requests each; requests/s of both
and the ratio are printed, on a scratch SQLite file and on a scratch PostgreSQL database
(CC_BENCH_POSTGRES_URL names the server; default: the test server), both dropped afterwards. The bare
endpoint is timed before and after the intake and the faster run is used (targets: ≥ 0.5× on SQLite,
≥ 0.3× on PostgreSQL). The server's CPU time per request of each is printed too: on a machine shared
with other work it moves far less than the request rates do.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CLIENTS = 12
PER_CLIENT = 150
WARMUP = 10
COURT = "330106"  # 杭州市西湖区人民法院 asks for work in other regions
REGIONS = ("110105", "440106", "330105", "320102", "510104", "420106")


def serve(port: int) -> None:
    """The server process: the real app plus the bare endpoint, on uvicorn."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from command_center.app import create_app
    from command_center.logging import configure_logging
    from command_center.settings import get_settings

    async def bare(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"id": 1, "status": "routed", **body}, status_code=201)

    settings = get_settings()
    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    app = create_app(settings)
    app.other_asgi_app.router.routes.insert(0, Route("/bench/bare", bare, methods=["POST"]))
    profile = os.environ.get("BENCH_INTAKE_PROFILE")  # a path: write cProfile stats of the server there
    if not profile:
        uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _prepare(url: str) -> str:
    """Migrates, loads the courts and returns an API token of the requesting court."""
    from command_center.courts.service import load_courts
    from command_center.db import Database
    from command_center.identity import service as identity
    from command_center.migrate import upgrade
    from command_center.settings import Settings

    db = Database.from_settings(Settings(database_url=url, log_json=False))
    try:
        await upgrade(db.engine)
        async with db.unit_of_work() as session:
            await load_courts(session)
        async with db.unit_of_work() as session:
            _, token = await identity.create_token(session, court_code=COURT, name="bench court system")
        return token
    finally:
        await db.dispose()


async def _cases(client: Any, count: int) -> list[tuple[int, int]]:
    """Files `count` cases through the API; returns (case id, respondent id) pairs."""
    from datetime import date

    from assistance.cases.identities import make_case_number, make_credit_code, make_resident_id

    pairs = []
    for n in range(1, count + 1):
        body = {
            "case_number": make_case_number("浙0106", 2026, 9000 + n),
            "category": "wages",
            "applicant": {
                "name": "张伟",
                "kind": "person",
                "id_number": make_resident_id(COURT, date(1980, 1, n), n),
            },
            "respondents": [
                {
                    "name": "杭州华盛建筑工程有限公司",
                    "kind": "organization",
                    "id_number": make_credit_code(COURT, 1000 + n),
                }
            ],
            "amount_claimed": 12_345_600,
            "filed_on": "2026-03-02",
        }
        response = await client.post("/api/v1/cases", json=body)
        response.raise_for_status()
        data = response.json()
        pairs.append((data["id"], data["respondents"][0]["id"]))
    return pairs


def _request_body(case: tuple[int, int], n: int) -> dict[str, Any]:
    return {
        "case_id": case[0],
        "matter_type": "freeze_deposits",
        "subject_id": case[1],
        "location": {"region_code": REGIONS[n % len(REGIONS)], "address": f"建设大道{n}号"},
        "urgency": "normal",
        "description": "请协助冻结被执行人在辖区内银行的存款。",
        "materials": ["ruling", "assistance_notice"],
    }


async def _load(client: Any, path: str, bodies: list[list[dict[str, Any]]], *, keyed: bool) -> float:
    """Sends every client's bodies (one client per list, all at once); returns requests per second."""

    async def one_client(items: list[dict[str, Any]]) -> None:
        for body in items:
            headers = {"Idempotency-Key": uuid.uuid4().hex} if keyed else None
            response = await client.post(path, json=body, headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")

    started = time.perf_counter()
    await asyncio.gather(*(one_client(items) for items in bodies))
    return sum(len(items) for items in bodies) / (time.perf_counter() - started)


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) used so far by process `pid`; None where /proc is not available."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _CpuMeter:
    """The server's CPU time per request of each timed run (steadier than requests/s on a busy machine)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.per_request: dict[str, float] = {}

    async def run(self, label: str, load: Any, requests: int) -> float:
        before = _cpu_seconds(self.pid)
        rate = await load
        after = _cpu_seconds(self.pid)
        if before is not None and after is not None:
            self.per_request[label] = min(
                self.per_request.get(label, float("inf")), (after - before) / requests
            )
        return rate


async def _measure(port: int, token: str, meter: _CpuMeter) -> tuple[float, float, float]:
    import httpx

    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}"},
        limits=limits,
        timeout=60,
    ) as client:
        cases = await _cases(client, CLIENTS)
        bodies = [
            [_request_body(cases[c], c * PER_CLIENT + i) for i in range(PER_CLIENT)] for c in range(CLIENTS)
        ]
        warm = [items[:WARMUP] for items in bodies]
        await _load(client, "/bench/bare", warm, keyed=False)
        await _load(client, "/api/v1/assistance-requests", warm, keyed=True)
        total = CLIENTS * PER_CLIENT
        bare_before = await meter.run("bare", _load(client, "/bench/bare", bodies, keyed=False), total)
        intake = await meter.run(
            "intake", _load(client, "/api/v1/assistance-requests", bodies, keyed=True), total
        )
        bare_after = await meter.run("bare", _load(client, "/bench/bare", bodies, keyed=False), total)
    return bare_before, intake, bare_after


async def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server process exited while starting")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


async def _run_on(url: str, label: str, target: float, tmp: Path, redis_url: str) -> None:
    token = await _prepare(url)
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CC_")},
        "CC_DATABASE_URL": url,
        "CC_REDIS_URL": redis_url,
        "CC_SECRET_KEY": "bench-secret-" + "x" * 40,
        "CC_VAR_DIR": str(tmp / "var"),
        "CC_LOG_LEVEL": "WARNING",
        "CC_LOG_JSON": "false",
    }
    log = (tmp / f"server-{label}.log").open("wb")
    server = subprocess.Popen(  # noqa: ASYNC220 - starting the server, before the timing
        [sys.executable, "-c", f"from bench.bench_intake import serve; serve({port})"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    meter = _CpuMeter(server.pid)
    try:
        await _wait_listening(port, server)
        bare_before, intake, bare_after = await _measure(port, token, meter)
    finally:
        server.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully (and a profile is written)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    bare = max(bare_before, bare_after)
    print(
        f"[{label}] {CLIENTS} clients × {PER_CLIENT}: bare endpoint {bare:,.0f} req/s "
        f"({bare_before:,.0f} before, {bare_after:,.0f} after); intake {intake:,.0f} req/s; "
        f"ratio {intake / bare:.2f}x (target ≥ {target}x)",
        flush=True,
    )
    if len(meter.per_request) == 2:
        print(
            f"[{label}] server CPU per request: bare endpoint {meter.per_request['bare'] * 1000:.2f} ms, "
            f"intake {meter.per_request['intake'] * 1000:.2f} ms",
            flush=True,
        )


async def run(tmp: Path) -> None:
    from command_center.redis_server import PrivateRedis

    redis = PrivateRedis(tmp / "redis")
    redis_url = redis.start()
    try:
        await _run_on(f"sqlite+aiosqlite:///{tmp / 'intake.db'}", "SQLite", 0.5, tmp, redis_url)
        server = (
            os.environ.get("CC_BENCH_POSTGRES_URL")
            or os.environ.get("CC_TEST_POSTGRES_URL")
            or DEFAULT_SERVER
        )
        name = f"cc_bench_intake_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            try:
                url = make_url(server).set(database=name).render_as_string(hide_password=False)
                await _run_on(url, "PostgreSQL", 0.3, tmp, redis_url)
            finally:
                async with admin.connect() as conn:
                    await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            await admin.dispose()
    finally:
        redis.stop()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))


if __name__ == "__main__":
    main()
