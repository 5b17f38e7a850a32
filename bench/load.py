"""Load test: two app nodes and a worker on PostgreSQL and Redis, live dashboards and court systems.

`make load` (or `python -m bench.load --duration 60` for a shorter run) starts, on loopback:
- a scratch PostgreSQL database on the server of CC_BENCH_POSTGRES_URL (default: the test server),
  created, migrated and loaded with the court directory, and dropped at the end;
- a private Redis (command_center.redis_server.PrivateRedis);
- two app nodes (`command-center serve` on two ports) and one worker (`command-center worker`);
- `--dashboards` live dashboards (default 500) in `--client-processes` processes of their own (default
  2): command staff of the supervising intermediate courts, signed in with a session cookie, connected
  to `/live` over WebSocket, spread evenly over both nodes;
- court systems in this process submitting `--rate` assistance requests per second (default 20) with
  court API tokens and an Idempotency-Key, alternating between the nodes, each followed by the target
  court's `file` and `start` and a message from the requesting court.

Every request is requested by one basic court of a prefecture and routed to another basic court of the
same prefecture, so the prefecture's intermediate court supervises it and its command staff's
dashboards hear of it (in `court:<code>` and `subtree:<code>`). It prints p50/p95/p99 of each HTTP
call's latency and of event delivery (the call's response received → a dashboard has the matching
event, once per dashboard that should hear it), every error (non-2xx, exception, a dashboard that lost
its connection, an event that never arrived), and each server process's resident memory after the
dashboards connected and at the end. Timestamps are CLOCK_MONOTONIC, shared by every process here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
# Which event follows which call: the response of the call is the start of the delivery clock.
EVENT_OF = {
    "submit": "assistance:routed",
    "file": "assistance:filed",
    "start": "assistance:started",
    "message": "assistance:message_posted",
}
DRAIN_SECONDS = 5.0  # after the relays published the last event: how long deliveries may still arrive
DRAIN_LIMIT_SECONDS = 180.0  # the longest wait for the relays to catch up
SECRET_KEY = "load-test-secret-" + "x" * 40  # the nodes' secret; TOTP secrets are encrypted with it


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- the topology -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prefecture:
    """One supervising intermediate court, the basic court that asks and the one that does the work."""

    supervisor: str
    requester: str
    requester_prefix: str
    target: str
    target_region: str


@dataclass
class Plan:
    database_url: str
    prefectures: list[Prefecture]
    tokens: dict[str, str]  # court code -> API token
    cookies: dict[str, list[str]]  # supervising court code -> one session cookie per dashboard
    cases: dict[str, tuple[int, int]] = field(default_factory=dict)  # requester -> (case id, respondent id)


def pick_prefectures(directory: Any, count: int) -> list[Prefecture]:
    """`count` intermediate courts with two active basic courts each, from as many provinces as possible."""
    from command_center.courts.enums import CourtLevel
    from command_center.courts.routing import route

    chosen: list[Prefecture] = []
    for intermediate in directory.by_level(CourtLevel.intermediate):
        basics = [
            c for c in directory.children(intermediate.code) if c.active and c.level == CourtLevel.basic
        ]
        if not intermediate.active or len(basics) < 2:
            continue
        requester, target = basics[0], basics[1]
        decision = route(directory, from_court=requester.code, region_code=target.region_code)
        if decision.target.code != target.code or decision.supervisor.code != intermediate.code:
            continue
        chosen.append(
            Prefecture(
                intermediate.code, requester.code, requester.case_prefix, target.code, target.region_code
            )
        )
    # Spread over provinces: take one per province in turn.
    by_province: dict[str, list[Prefecture]] = defaultdict(list)
    for prefecture in chosen:
        by_province[prefecture.supervisor[:2]].append(prefecture)
    spread: list[Prefecture] = []
    while len(spread) < count and any(by_province.values()):
        for key in sorted(by_province):
            if by_province[key] and len(spread) < count:
                spread.append(by_province[key].pop(0))
    if len(spread) < count:
        raise RuntimeError(f"only {len(spread)} prefectures qualify, {count} asked for")
    return spread


async def prepare(database_url: str, *, prefectures: int, dashboards: int) -> Plan:
    """Migrates, loads the courts, creates command staff with one login session per dashboard, and an
    API token for every court that calls the API. Command staff are enrolled in two-factor sign-in and
    their sessions opened through the service layer, as a completed sign-in with a code leaves them."""
    from command_center.courts.directory import load_directory
    from command_center.courts.service import load_courts
    from command_center.db import Database
    from command_center.identity import second_factor
    from command_center.identity import service as identity
    from command_center.identity.principal import Role
    from command_center.migrate import upgrade
    from command_center.settings import Settings

    settings = Settings(database_url=database_url, secret_key=SECRET_KEY, log_json=False)
    db = Database.from_settings(settings)
    try:
        await upgrade(db.engine)
        async with db.unit_of_work() as session:
            await load_courts(session)
        async with db.unit_of_work() as session:
            chosen = pick_prefectures(await load_directory(session), prefectures)
        tokens: dict[str, str] = {}
        cookies: dict[str, list[str]] = defaultdict(list)
        async with db.unit_of_work() as session:
            for p in chosen:
                for court in (p.requester, p.target):
                    _, tokens[court] = await identity.create_token(
                        session, court_code=court, name="load test"
                    )
            for n, p in enumerate(chosen):
                user = await identity.create_user(
                    session,
                    username=f"load_cs_{p.supervisor}",
                    password=uuid.uuid4().hex,
                    role=Role.command_staff,
                    court_code=p.supervisor,
                    display_name=f"指挥中心 {p.supervisor}",
                )
                # Command staff must use two-factor sign-in: enrolled, so their sessions are full ones.
                await second_factor.enroll(
                    session, user_id=user.id, settings=settings, actor_label="load test"
                )
                # Dashboards are dealt round-robin over the prefectures.
                for _ in range(dashboards // len(chosen) + (1 if n < dashboards % len(chosen) else 0)):
                    _, cookie = await identity.open_session(
                        session, user=user, settings=settings, ip="127.0.0.1", user_agent="load test"
                    )
                    cookies[p.supervisor].append(cookie)
        return Plan(database_url, chosen, tokens, dict(cookies))
    finally:
        await db.dispose()


async def file_cases(plan: Plan, base_url: str) -> None:
    """One enforcement case per requesting court, filed through the API with its token."""
    import httpx

    from assistance.cases.identities import make_credit_code, make_resident_id

    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for n, p in enumerate(plan.prefectures, start=1):
            body = {
                "case_number": f"(2026){p.requester_prefix}执{7000 + n}号",
                "category": "wages",
                "applicant": {
                    "name": "张伟",
                    "kind": "person",
                    "id_number": make_resident_id(p.requester, date(1980, 1, 1 + n % 28), n),
                },
                "respondents": [
                    {
                        "name": "某建筑工程有限公司",
                        "kind": "organization",
                        "id_number": make_credit_code(p.requester, n),
                    }
                ],
                "amount_claimed": 12_345_600,
                "filed_on": "2026-03-02",
            }
            response = await client.post(
                "/api/v1/cases", json=body, headers={"Authorization": f"Bearer {plan.tokens[p.requester]}"}
            )
            if response.status_code != 201:
                raise RuntimeError(f"filing a case: {response.status_code} {response.text[:300]}")
            data = response.json()
            plan.cases[p.requester] = (data["id"], data["respondents"][0]["id"])


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    from command_center.redis_server import free_port as pick

    return pick()


def rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


async def postgres_cpu(database_url: str) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend serving the scratch database (same machine)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            pids = (
                await conn.execute(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            ).scalars()
            return {pid: cpu_seconds(pid) for pid in pids}
    finally:
        await engine.dispose()


async def wait_published(database_url: str, *, limit: float) -> int:
    """Waits until the relays have published every outbox row (at most `limit` seconds); returns how
    many were still unpublished at the end."""
    engine = create_async_engine(database_url)
    deadline = time.monotonic() + limit
    try:
        while True:
            async with engine.connect() as conn:
                left = (
                    await conn.execute(
                        sa.text("SELECT count(*) FROM outbox_event WHERE published_at IS NULL")
                    )
                ).scalar_one()
            if not left or time.monotonic() > deadline:
                return int(left)
            await asyncio.sleep(1)
    finally:
        await engine.dispose()


async def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url}: the process exited while starting")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{url} did not become ready")


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- dashboards (a process of their own) ----------------------------------------------------------


async def open_dashboard(url: str, cookie: str) -> Any:
    """An engine.io WebSocket to `/live`, authenticated by the session cookie; returns it connected."""
    from websockets.asyncio.client import connect

    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    ws = await connect(
        ws_url,
        additional_headers={"Cookie": f"cc_session={cookie}"},
        compression=None,
        max_size=None,
        ping_interval=None,
        open_timeout=60,
    )
    opening = await ws.recv()
    if not opening.startswith("0"):
        raise ConnectionError(f"unexpected engine.io opening {opening[:80]!r}")
    await ws.send("40/live,")
    while True:
        message = await ws.recv()
        if message.startswith("40/live,"):
            return ws
        if message.startswith("44/live,"):
            raise ConnectionError(f"refused: {message[8:200]}")
        if message == "2":
            await ws.send("3")


async def run_dashboards(spec_path: Path, out_path: Path) -> None:
    """Connects the dashboards named in the spec, records when each first hears each event, and on
    `stop` (a line on stdin) writes what it saw to `out_path`."""
    import websockets

    spec = json.loads(spec_path.read_text())
    arrivals: list[list[Any]] = []  # [dashboard index, event name, request id, monotonic time]
    counts: Counter[str] = Counter()
    lost: list[str] = []
    stopping = asyncio.Event()

    async def follow(index: int, ws: Any) -> None:
        seen: set[tuple[str, int]] = set()
        try:
            async for message in ws:
                if message == "2":
                    await ws.send("3")  # engine.io pong
                    continue
                if not message.startswith("42/live,"):
                    continue
                now = time.monotonic()
                name, body = json.loads(message[8:])
                counts[name] += 1
                if name not in EVENT_OF.values() or not isinstance(body, dict):
                    continue
                data = body.get("data") or {}
                request_id = data.get("request_id" if name == "assistance:message_posted" else "id")
                key = (name, request_id)
                if key not in seen:  # the same event reaches command staff in court:X and subtree:X
                    seen.add(key)
                    arrivals.append([index, name, request_id, now])
        except websockets.ConnectionClosed as exc:
            if not stopping.is_set():
                lost.append(f"dashboard {index}: connection closed ({exc})")
            return
        if not stopping.is_set():
            lost.append(f"dashboard {index}: connection ended")

    sockets: list[Any] = []
    refused: list[str] = []
    entries = spec["dashboards"]
    for start in range(0, len(entries), 50):
        batch = entries[start : start + 50]
        results = await asyncio.gather(
            *(open_dashboard(e["url"], e["cookie"]) for e in batch), return_exceptions=True
        )
        for entry, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                refused.append(f"dashboard {entry['index']}: {result}")
            else:
                sockets.append((entry["index"], result))
    readers = [asyncio.create_task(follow(index, ws)) for index, ws in sockets]
    print(f"ready {len(sockets)}", flush=True)

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    stopping.set()
    for _, ws in sockets:
        with contextlib.suppress(Exception):
            await ws.close()
    for reader in readers:
        reader.cancel()
    out_path.write_text(
        json.dumps(
            {"arrivals": arrivals, "counts": counts, "errors": refused + lost, "connected": len(sockets)}
        )
    )
    print("done", flush=True)


# --- court systems (this process) ---------------------------------------------------------------


@dataclass
class Record:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    acked: dict[tuple[str, int], float] = field(default_factory=dict)  # (event name, request id) -> time
    supervisor_of: dict[int, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    started: int = 0


async def lifecycle(client: Any, url: str, plan: Plan, p: Prefecture, record: Record) -> None:
    """Submits one request, then the target court files and starts it and the requester posts a message."""
    case_id, subject_id = plan.cases[p.requester]
    requester = {"Authorization": f"Bearer {plan.tokens[p.requester]}"}
    target = {"Authorization": f"Bearer {plan.tokens[p.target]}"}

    async def call(
        kind: str, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any] | None:
        sent = time.monotonic()
        try:
            async with client.post(url + path, json=body, headers=headers) as response:
                status, text = response.status, await response.text()
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            record.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            return None
        done = time.monotonic()
        if status not in (200, 201):
            record.errors.append(f"{kind}: HTTP {status} {text[:200]}")
            return None
        record.latencies[kind].append(done - sent)
        data = json.loads(text)
        request_id = data["request_id"] if kind == "message" else data["id"]
        record.acked[(EVENT_OF[kind], request_id)] = done
        return data

    body = {
        "case_id": case_id,
        "matter_type": "freeze_deposits",
        "subject_id": subject_id,
        "location": {"region_code": p.target_region, "address": "建设大道1号"},
        "urgency": "normal",
        "description": "请协助冻结被执行人在辖区内银行的存款。",
        "materials": ["ruling", "assistance_notice"],
    }
    submitted = await call(
        "submit", "/api/v1/assistance-requests", body, {**requester, "Idempotency-Key": uuid.uuid4().hex}
    )
    if submitted is None:
        return
    request_id = submitted["id"]
    record.supervisor_of[request_id] = p.supervisor
    base = f"/api/v1/assistance-requests/{request_id}"
    filed = await call("file", f"{base}/file", {"version": submitted["version"]}, target)
    if filed is None:
        return
    if await call("start", f"{base}/start", {"version": filed["version"]}, target) is None:
        return
    await call("message", f"{base}/messages", {"body": "已收到，正在办理。"}, requester)


async def drive(plan: Plan, urls: list[str], *, rate: float, duration: float, record: Record) -> None:
    """Starts `rate` lifecycles per second (open loop: a slow answer does not slow the arrivals)."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=400)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as client:
        tasks: set[asyncio.Task[None]] = set()
        started = time.monotonic()
        n = 0
        while (due := started + n / rate) < started + duration:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            p = plan.prefectures[n % len(plan.prefectures)]
            task = asyncio.create_task(lifecycle(client, urls[n % len(urls)], plan, p, record))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
            if n % max(1, int(rate * 30)) == 0:
                say(
                    f"{n} submissions started ({n / (time.monotonic() - started):.1f}/s), "
                    f"{len(tasks)} lifecycles open, {len(record.errors)} errors so far"
                )
        record.started = n
        if tasks:
            await asyncio.gather(*tasks)


# --- report -------------------------------------------------------------------------------------


def percentiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return (
        f"p50 {at(0.50):7.1f} ms  p95 {at(0.95):7.1f} ms  p99 {at(0.99):7.1f} ms  "
        f"max {ordered[-1] * 1000:7.1f} ms  (n={len(ordered)})"
    )


def report(
    record: Record,
    results: list[dict[str, Any]],
    dashboards_of: dict[int, str],
    memory: dict[str, tuple[float, float, float]],
    cpu: dict[str, float],
    *,
    args: argparse.Namespace,
    elapsed: float,
    loadavg: tuple[float, float, float],
) -> int:
    delivery: dict[str, list[float]] = defaultdict(list)
    received: set[tuple[int, str, int]] = set()
    early = 0
    for result in results:
        for index, name, request_id, at in result["arrivals"]:
            acked = record.acked.get((name, request_id))
            if acked is None:
                continue  # the call's answer never came back: counted among the errors already
            received.add((index, name, request_id))
            early += at < acked
            delivery[name].append(max(0.0, at - acked))
    dashboards_by_court: dict[str, list[int]] = defaultdict(list)
    for index, court in dashboards_of.items():
        dashboards_by_court[court].append(index)
    missing = 0
    for name, request_id in record.acked:
        for index in dashboards_by_court[record.supervisor_of[request_id]]:
            missing += (index, name, request_id) not in received

    errors = list(record.errors) + [e for r in results for e in r["errors"]]
    calls = sum(len(v) for v in record.latencies.values())
    print(
        f"\nload: {args.dashboards} dashboards on 2 app nodes + 1 worker, PostgreSQL, Redis; "
        f"{record.started} submissions at {args.rate}/s over {elapsed:.0f} s, each followed by file, start, "
        f"message ({calls} calls answered); load average at the end {loadavg[0]:.2f} {loadavg[1]:.2f} "
        f"{loadavg[2]:.2f} on {os.cpu_count()} cores"
    )
    print(f"connected dashboards: {sum(r['connected'] for r in results)} of {args.dashboards}")
    print("HTTP latency (request sent → response received):")
    for kind in EVENT_OF:
        print(f"  {kind:<8} {percentiles(record.latencies[kind])}")
    print("event delivery (response received → the dashboard has the event; every dashboard that should):")
    for kind, name in EVENT_OF.items():
        print(f"  {name:<27} {percentiles(delivery[name])}")
    print(f"  ({early} deliveries arrived before the response that caused them; counted as 0 ms)")
    print(f"undelivered events: {missing}")
    print(f"errors: {len(errors) + missing}")
    for text, count in Counter(errors).most_common(10):
        print(f"  {count} × {text}")
    print("resident memory (MiB): nodes ready → dashboards connected (start) → end")
    for name, (idle, before, after) in memory.items():
        print(f"  {name:<10} {idle:7.1f} → {before:7.1f} → {after:7.1f}")
    print(f"CPU seconds used during the load ({elapsed:.0f} s; cores in use = seconds / {elapsed:.0f}):")
    print("  " + "  ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items()))
    if calls:
        nodes = cpu.get("app1", 0.0) + cpu.get("app2", 0.0)
        print(f"  app nodes: {nodes / calls * 1000:.1f} ms of CPU per answered call (fan-out included)")
    return 0 if not errors and not missing else 1


# --- main ---------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, tmp: Path) -> int:
    from command_center.redis_server import PrivateRedis

    server = (
        os.environ.get("CC_BENCH_POSTGRES_URL") or os.environ.get("CC_TEST_POSTGRES_URL") or DEFAULT_SERVER
    )
    name = f"cc_load_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    redis = PrivateRedis(tmp / "redis")
    processes: dict[str, subprocess.Popen[Any]] = {}
    try:
        database_url = make_url(server).set(database=name).render_as_string(hide_password=False)
        say(f"preparing {name}: migrations, court directory, users, sessions, tokens")
        plan = await prepare(database_url, prefectures=args.prefectures, dashboards=args.dashboards)
        redis_url = redis.start()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CC_")},
            "CC_DATABASE_URL": database_url,
            "CC_REDIS_URL": redis_url,
            "CC_SECRET_KEY": SECRET_KEY,
            "CC_VAR_DIR": str(tmp / "var"),
            "CC_LOG_LEVEL": "WARNING",
            "CC_LOG_JSON": "false",
        }
        base = [sys.executable, "-m", "command_center"]
        urls = []
        for node in ("app1", "app2"):
            port = free_port()
            urls.append(f"http://127.0.0.1:{port}")
            with (tmp / f"{node}.log").open("wb") as log:
                processes[node] = subprocess.Popen(  # noqa: ASYNC220 - started before anything is timed
                    [*base, "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        with (tmp / "worker.log").open("wb") as log:
            processes["worker"] = subprocess.Popen(  # noqa: ASYNC220 - started before anything is timed
                [*base, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        for url, node in zip(urls, ("app1", "app2"), strict=True):
            await wait_ready(url, processes[node])
        await file_cases(plan, urls[0])
        memory_idle = {node: rss_mib(process.pid) for node, process in processes.items()}
        memory_idle["redis"] = rss_mib(redis.process.pid) if redis.process else float("nan")

        # Dashboards: dealt over the nodes and then over the client processes.
        entries, dashboards_of = [], {}
        for court, cookies in plan.cookies.items():
            for cookie in cookies:
                index = len(entries)
                entries.append({"index": index, "url": urls[index % 2], "cookie": cookie})
                dashboards_of[index] = court
        say(f"connecting {len(entries)} dashboards in {args.client_processes} processes")
        clients = []
        for k in range(args.client_processes):
            spec = tmp / f"dashboards-{k}.json"
            spec.write_text(json.dumps({"dashboards": entries[k :: args.client_processes]}))
            clients.append(
                subprocess.Popen(  # noqa: ASYNC220 - started before anything is timed
                    [
                        sys.executable,
                        "-m",
                        "bench.load",
                        "dashboards",
                        str(spec),
                        str(tmp / f"seen-{k}.json"),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
            processes[f"clients{k + 1}"] = clients[-1]
        for client in clients:
            line = await asyncio.to_thread(client.stdout.readline)  # type: ignore[union-attr]
            if not line.startswith("ready"):
                raise RuntimeError(f"a dashboard process did not start: {line!r}")
        await asyncio.sleep(2)
        memory_start = {node: rss_mib(process.pid) for node, process in processes.items()}
        memory_start["redis"] = rss_mib(redis.process.pid) if redis.process else float("nan")

        say(f"load: {args.rate} submissions/s for {args.duration:.0f} s")
        record = Record()
        cpu_start = {node: cpu_seconds(process.pid) for node, process in processes.items()}
        pg_start = await postgres_cpu(database_url)
        driver_start = time.process_time()
        started = time.monotonic()
        await drive(plan, urls, rate=args.rate, duration=args.duration, record=record)
        elapsed = time.monotonic() - started
        cpu = {node: cpu_seconds(process.pid) - cpu_start[node] for node, process in processes.items()}
        pg_end = await postgres_cpu(database_url)
        cpu["postgres"] = sum(used - pg_start.get(pid, 0.0) for pid, used in pg_end.items())
        cpu["driver"] = time.process_time() - driver_start
        loadavg = os.getloadavg()
        backlog = await wait_published(database_url, limit=DRAIN_LIMIT_SECONDS)
        say(f"calls done; outbox backlog {backlog}; waiting {DRAIN_SECONDS:.0f} s for the last deliveries")
        await asyncio.sleep(DRAIN_SECONDS)
        memory_end = {node: rss_mib(process.pid) for node, process in processes.items()}
        memory_end["redis"] = rss_mib(redis.process.pid) if redis.process else float("nan")

        results = []
        for k, client in enumerate(clients):
            client.stdin.write("stop\n")  # type: ignore[union-attr]
            client.stdin.flush()  # type: ignore[union-attr]
        for k, client in enumerate(clients):
            await asyncio.to_thread(client.wait, 120)
            results.append(json.loads((tmp / f"seen-{k}.json").read_text()))
        for node in ("app1", "app2", "worker"):
            if processes[node].poll() is not None:
                record.errors.append(f"{node} exited with {processes[node].returncode} during the run")
        memory = {
            node: (memory_idle.get(node, float("nan")), memory_start[node], memory_end[node])
            for node in memory_start
        }
        return report(
            record, results, dashboards_of, memory, cpu, args=args, elapsed=elapsed, loadavg=loadavg
        )
    finally:
        for process in processes.values():
            if process.stdin is not None and not process.stdin.closed:
                process.stdin.close()  # a dashboard process then writes what it saw and exits
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
        for process in processes.values():
            stop(process)
        redis.stop()
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
        if args.keep_logs:
            for log in tmp.glob("*.log"):
                target = Path(args.keep_logs) / log.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(log.read_bytes())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dashboards"]:
        asyncio.run(run_dashboards(Path(argv[1]), Path(argv[2])))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of load (default 300)")
    parser.add_argument("--rate", type=float, default=20, help="submissions per second (default 20)")
    parser.add_argument("--dashboards", type=int, default=500, help="connected dashboards (default 500)")
    parser.add_argument("--prefectures", type=int, default=25, help="supervising courts (default 25)")
    parser.add_argument("--client-processes", type=int, default=2, help="processes for the dashboards")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the nodes' and worker's logs here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
