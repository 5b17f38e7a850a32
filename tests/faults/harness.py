"""The fault scenarios' shared harness: real processes, client traffic that records what it was told,
and the checks against the database afterwards.

- `Backend`: a database per scenario, cloned from a prepared template (migrated, court directory, demo
  users, two court API tokens): a private PostgreSQL cluster when the server binaries are installed
  (tests/private_postgres.py), else a SQLite file.
- `Stack`: a private Redis, optional fault proxies in front of Redis and PostgreSQL (tests/faults/proxy),
  app nodes (`command-center serve`) and a worker (`command-center worker`) as child processes.
- `Submitter`: clients submitting assistance requests with an Idempotency-Key, retrying what was not
  acknowledged; `Ledger` keeps every answer. `verify_requests` checks the database: every acknowledged
  request stored, none stored twice, none half-written.
- `EventWatcher`: `/live` clients (realtime.client.LiveClient) that must end up with every event of
  their room, in order, delivered live or replayed after a gap or a reconnect.
- `start_traffic`: a scenario's nodes, worker, case, live clients and running submitters (`Traffic`);
  `Traffic.finish` checks what the clients were told and received (`TrafficOutcome`).
- `ScenarioResult`: the figures a scenario reports (the `make faults` table).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from assistance.enums import RequestStatus
from assistance.requests import deadlines as clocks
from assistance.requests.models import AssistanceRequest, Deadline
from command_center.audit.models import AuditEntry
from command_center.db import Database
from command_center.outbox.models import OutboxEvent, RoomSequence
from command_center.redis_server import PrivateRedis, free_port
from command_center.settings import PROJECT_ROOT, Settings
from realtime.client import LiveClient
from tests import private_postgres
from tests.faults.proxy import FaultProxy

FULL = os.environ.get("CC_FAULTS") == "full"
# CC_FAULTS_BACKEND=sqlite runs the scenarios on SQLite even where a private PostgreSQL could start.
FORCE_SQLITE = os.environ.get("CC_FAULTS_BACKEND") == "sqlite"
REQUESTER, TARGET_REGION = "330106", "440106"  # 杭州市西湖区人民法院 asks 广州市天河区人民法院
SECRET = "faults-secret-" + "x" * 32
WAIT = 180.0  # an upper bound for a slow machine, never a speed assertion


def volume(short: int, full: int) -> int:
    """The short figure in the normal suite, the full one under `make faults` (CC_FAULTS=full)."""
    return full if FULL else short


# --- results -----------------------------------------------------------------------------------------


@dataclass
class ScenarioResult:
    scenario: str
    acknowledged: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    delivered: int = 0
    replayed: int = 0
    notes: str = ""


RESULTS: list[ScenarioResult] = []


def report(result: ScenarioResult) -> ScenarioResult:
    RESULTS.append(result)
    return result


def results_table(results: list[ScenarioResult]) -> str:
    header = ("scenario", "acknowledged", "stored", "lost", "duplicated", "delivered", "replayed", "notes")
    rows = [header] + [
        (
            r.scenario,
            str(r.acknowledged),
            str(r.stored),
            str(r.lost),
            str(r.duplicated),
            str(r.delivered),
            str(r.replayed),
            r.notes,
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- databases ---------------------------------------------------------------------------------------


class Backend:
    """Hands out a fresh, prepared database per scenario (`new_database`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.postgres: private_postgres.PrivatePostgres | None = None
        self.tokens: dict[str, str] = {}
        self._template_file = root / "template.db"
        self._serial = 0

    @property
    def is_postgres(self) -> bool:
        return self.postgres is not None

    async def start(self) -> None:
        if private_postgres.available() and not FORCE_SQLITE:
            self.postgres = private_postgres.PrivatePostgres()
            await asyncio.to_thread(self.postgres.start)
            await self._admin("CREATE DATABASE faults_template")
            url = self.postgres.url("faults_template")
        else:
            url = f"sqlite+aiosqlite:///{self._template_file}"
        await self._prepare(url)

    async def _admin(self, statement: str) -> None:
        import asyncpg

        assert self.postgres is not None
        conn = await asyncpg.connect(self.postgres.dsn())
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    async def _prepare(self, url: str) -> None:
        from command_center.courts.service import load_courts
        from command_center.demo import load_demo
        from command_center.identity import service as identity
        from command_center.migrate import upgrade

        db = Database.from_settings(settings_for(url, var_dir=self.root / "var"))
        try:
            await upgrade(db.engine)
            async with db.unit_of_work() as session:
                await load_courts(session)
            async with db.unit_of_work() as session:
                await load_demo(session)
            async with db.unit_of_work() as session:
                for court in (REQUESTER, "440106"):
                    _token, plaintext = await identity.create_token(
                        session, court_code=court, name=f"fault tests {court}"
                    )
                    self.tokens[court] = plaintext
        finally:
            await db.dispose()

    async def new_database(self, name: str) -> str:
        """A copy of the template; returns its URL."""
        self._serial += 1
        label = f"faults_{self._serial}_{name}"[:60]
        if self.postgres is not None:
            await self._admin(f'CREATE DATABASE "{label}" TEMPLATE faults_template')
            return self.postgres.url(label)
        path = self.root / f"{label}.db"
        shutil.copyfile(self._template_file, path)
        return f"sqlite+aiosqlite:///{path}"

    def stop(self) -> None:
        if self.postgres is not None:
            self.postgres.remove()


def settings_for(database_url: str, **overrides: Any) -> Settings:
    return Settings(env="test", database_url=database_url, secret_key=SECRET, **overrides)


# --- processes ---------------------------------------------------------------------------------------


class Process:
    """`python -m command_center <args>` with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "command_center", *self.args],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=15)

    async def terminate(self, timeout: float = 30) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            stop_at = time.monotonic() + timeout
            while self.process.poll() is None and time.monotonic() < stop_at:
                await asyncio.sleep(0.1)
            if self.process.poll() is None:
                self.kill()
        return self.process.returncode

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class AppNode:
    process: Process
    url: str

    async def wait_ready(self, timeout: float = 90) -> None:
        stop_at = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=3) as client:
            while time.monotonic() < stop_at:
                if not self.process.alive:
                    raise AssertionError(f"the app node exited:\n{self.process.tail()}")
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"the app node at {self.url} did not become ready:\n{self.process.tail()}")


class Stack:
    """One scenario's system: a database, a private Redis (optionally behind a proxy), an optional
    proxy in front of PostgreSQL, app nodes and a worker."""

    def __init__(self, backend: Backend, workdir: Path, name: str) -> None:
        self.backend, self.workdir, self.name = backend, workdir, name
        self.redis = PrivateRedis(workdir / "redis")
        self.redis_proxy: FaultProxy | None = None
        self.db_proxy: FaultProxy | None = None
        self.database_url = ""
        self.nodes: list[AppNode] = []
        self.worker: Process | None = None
        self.extra_env: dict[str, str] = {}
        self._db: Database | None = None
        self._redis_client: Any = None

    async def start(
        self, *, redis_proxy: bool = False, db_proxy: bool = False, extra_env: dict[str, str] | None = None
    ) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.database_url = await self.backend.new_database(self.name)
        await asyncio.to_thread(self.redis.start)
        self.extra_env = dict(extra_env or {})
        if redis_proxy:
            self.redis_proxy = FaultProxy(upstream_port=self.redis.port)
            await self.redis_proxy.start()
        if db_proxy:
            assert self.backend.postgres is not None, "a database proxy needs PostgreSQL"
            self.db_proxy = FaultProxy(upstream_port=self.backend.postgres.port)
            await self.db_proxy.start()

    @property
    def db(self) -> Database:
        """The test's own connection to the database (never through a proxy)."""
        if self._db is None:
            self._db = Database.from_settings(settings_for(self.database_url, var_dir=self.workdir / "var"))
        return self._db

    @property
    def redis_client(self) -> Any:
        """The test's own Redis client (never through a proxy)."""
        if self._redis_client is None:
            from redis.asyncio import Redis

            self._redis_client = Redis.from_url(self.redis.url)
        return self._redis_client

    def env(self) -> dict[str, str]:
        """The CC_ settings of the stack's processes (through the proxies when there are some)."""
        database_url = self.database_url
        if self.db_proxy is not None:
            assert self.backend.postgres is not None
            database_url = database_url.replace(f":{self.backend.postgres.port}/", f":{self.db_proxy.port}/")
        redis_url = self.redis.url
        if self.redis_proxy is not None:
            redis_url = f"redis://127.0.0.1:{self.redis_proxy.port}/0"
        env = {key: value for key, value in os.environ.items() if not key.startswith("CC_")}
        env.update(
            {
                "PYTHONPATH": str(PROJECT_ROOT),
                "PYTHONUNBUFFERED": "1",
                "CC_ENV": "test",
                "CC_DATABASE_URL": database_url,
                "CC_REDIS_URL": redis_url,
                "CC_QUEUE_NAME": f"faults:{self.name}",
                "CC_SECRET_KEY": SECRET,
                "CC_VAR_DIR": str(self.workdir / "var"),
                "CC_LOG_JSON": "false",
                "CC_LOG_LEVEL": "INFO",
                "CC_RECONCILE_INTERVAL_SECONDS": "1",
                "CC_RECONCILE_SETTLE_SECONDS": "0",
                "CC_DEADLINE_JOB_TIMEOUT_SECONDS": "20",
                "CC_DB_POOL_SIZE": "5",
            }
        )
        env.update(self.extra_env)
        return env

    async def start_node(self) -> AppNode:
        port = free_port()
        index = len(self.nodes)
        process = Process(
            ["serve", "--host", "127.0.0.1", "--port", str(port)],
            self.env(),
            self.workdir / f"app{index}.log",
        )
        process.start()
        node = AppNode(process, f"http://127.0.0.1:{port}")
        self.nodes.append(node)
        await node.wait_ready()
        return node

    def start_worker(self) -> Process:
        if self.worker is None:
            self.worker = Process(["worker"], self.env(), self.workdir / "worker.log")
        self.worker.start()
        return self.worker

    async def stop(self) -> None:
        for node in self.nodes:
            await node.process.terminate(timeout=15)
        if self.worker is not None:
            await self.worker.terminate(timeout=15)
        for proxy in (self.redis_proxy, self.db_proxy):
            if proxy is not None:
                await proxy.stop()
        if self._redis_client is not None:
            await self._redis_client.aclose()
        if self._db is not None:
            await self._db.dispose()
        await asyncio.to_thread(self.redis.stop)

    def logs(self) -> str:
        parts = [f"--- app{i} ---\n{node.process.tail()}" for i, node in enumerate(self.nodes)]
        if self.worker is not None:
            parts.append(f"--- worker ---\n{self.worker.tail()}")
        return "\n".join(parts)


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    *,
    what: str,
    timeout: float = WAIT,
    stack: Stack | None = None,
    interval: float = 0.2,
) -> None:
    stop_at = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > stop_at:
            raise AssertionError(f"timed out waiting for {what}\n{stack.logs() if stack else ''}")
        await asyncio.sleep(interval)


# --- request traffic ---------------------------------------------------------------------------------


@dataclass
class Attempt:
    key: str
    description: str
    answers: list[str] = field(default_factory=list)  # status codes or exception names, in order
    request_id: int | None = None  # set when acknowledged (201, or 200 for a replayed key)

    @property
    def acknowledged(self) -> bool:
        return self.request_id is not None


@dataclass
class Ledger:
    """What every client was told."""

    scenario: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def acknowledged(self) -> list[Attempt]:
        return [a for a in self.attempts if a.acknowledged]

    def answers(self) -> collections.Counter[str]:
        return collections.Counter(answer for a in self.attempts for answer in a.answers)


async def create_case(url: str, token: str, label: str) -> tuple[int, int]:
    """A case of the requesting court with one respondent, through the API; returns (case id, party id)."""
    body = {
        "case_number": f"(2026)浙0106执{abs(hash(label)) % 90000 + 10000}号",
        "category": "wages",
        "amount_claimed": 8_650_000,
        "filed_on": "2026-11-02",
        "applicant": {"name": "张三", "kind": "person", "id_number": "33010619900101123X"},
        "respondents": [
            {"name": "杭州某建筑有限公司", "kind": "organization", "id_number": "91330106MA2H00001E"}
        ],
    }
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{url}/api/v1/cases", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 201, response.text
    case = response.json()
    return case["id"], case["respondents"][0]["id"]


class Submitter:
    """Submits assistance requests, each under its own Idempotency-Key, retrying every answer that is
    not an acknowledgement or a refusal (connection errors, timeouts, 5xx) until `give_up_seconds`."""

    def __init__(
        self,
        ledger: Ledger,
        urls: list[str],
        token: str,
        *,
        case_id: int,
        subject_id: int,
        give_up_seconds: float = 90,
        timeout: float = 10,
    ) -> None:
        self.ledger, self.urls, self.token = ledger, urls, token
        self.case_id, self.subject_id = case_id, subject_id
        self.give_up_seconds, self.timeout = give_up_seconds, timeout
        self.run_id = uuid.uuid4().hex[:8]
        self._numbers = itertools.count()

    def request_body(self, description: str) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "matter_type": "freeze_deposits",
            "subject_id": self.subject_id,
            "location": {"region_code": TARGET_REGION, "address": "广州市天河区体育西路1号"},
            "urgency": "normal",
            "description": description,
            "materials": ["ruling", "assistance_notice"],
        }

    async def submit_one(self, client: httpx.AsyncClient, n: int) -> Attempt:
        attempt = Attempt(
            key=f"{self.ledger.scenario}-{self.run_id}-{n}", description=f"{self.ledger.scenario}:{n}"
        )
        self.ledger.attempts.append(attempt)
        body = self.request_body(attempt.description)
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": attempt.key}
        stop_at = time.monotonic() + self.give_up_seconds
        tries = 0
        while time.monotonic() < stop_at:
            url = self.urls[(n + tries) % len(self.urls)]
            tries += 1
            try:
                response = await client.post(f"{url}/api/v1/assistance-requests", json=body, headers=headers)
            except httpx.HTTPError as exc:
                attempt.answers.append(type(exc).__name__)
                await asyncio.sleep(min(0.1 * tries, 1.0))
                continue
            attempt.answers.append(str(response.status_code))
            if response.status_code in (200, 201):
                attempt.request_id = response.json()["id"]
                return attempt
            if response.status_code < 500 and response.status_code != 429:
                raise AssertionError(f"request {n} refused: {response.status_code} {response.text}")
            await asyncio.sleep(min(0.1 * tries, 1.0))
        return attempt

    async def run(
        self, count: int, *, concurrency: int = 4, pause: float = 0.0, until: asyncio.Event | None = None
    ) -> None:
        """Submits `count` more requests (at least; with `until`, goes on until it is set) from
        `concurrency` clients, each waiting `pause` between requests."""
        started = 0

        def numbers() -> Iterator[int]:
            nonlocal started
            while started < count or (until is not None and not until.is_set()):
                started += 1
                yield next(self._numbers)

        shared = numbers()

        async def client_loop() -> None:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                for n in shared:
                    await self.submit_one(client, n)
                    if pause:
                        await asyncio.sleep(pause)

        await asyncio.gather(*(client_loop() for _ in range(concurrency)))


@dataclass
class RequestCheck:
    acknowledged: int
    stored: int
    lost: list[str]
    duplicated: int
    torn: list[int]  # stored requests missing part of what their submission writes
    unacknowledged: int  # given up on by the client (stored or not; never a loss)


async def verify_requests(db: Database, ledger: Ledger) -> RequestCheck:
    """Every acknowledged request stored under the id the client was told, no description stored twice,
    and each stored request whole: its clocks, its audit entry and its `assistance:routed` event."""
    prefix = f"{ledger.scenario}:"
    table = AssistanceRequest.__table__
    async with db.unit_of_work(read_only=True) as s:
        rows = (
            await s.execute(
                sa.select(table.c.id, table.c.description).where(table.c.description.like(prefix + "%"))
            )
        ).all()
        ids = [row.id for row in rows]
        deadlines: dict[int, int] = collections.Counter()
        audits: set[str] = set()
        events: set[int] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            deadlines.update(
                dict(
                    (
                        await s.execute(
                            sa.select(Deadline.subject_id, sa.func.count())
                            .where(Deadline.subject_type == "request", Deadline.subject_id.in_(chunk))
                            .group_by(Deadline.subject_id)
                        )
                    ).all()
                )
            )
            audits.update(
                (
                    await s.execute(
                        sa.select(AuditEntry.subject_id).where(
                            AuditEntry.action == "assistance.submitted",
                            AuditEntry.subject_id.in_([str(i) for i in chunk]),
                        )
                    )
                ).scalars()
            )
            events.update(
                int(room.split(":", 1)[1])
                for room in (
                    await s.execute(
                        sa.select(OutboxEvent.room).where(
                            OutboxEvent.name == "assistance:routed",
                            OutboxEvent.room.in_([f"request:{i}" for i in chunk]),
                        )
                    )
                ).scalars()
            )
    by_description: dict[str, list[int]] = collections.defaultdict(list)
    for row in rows:
        by_description[row.description].append(row.id)
    lost = [a.key for a in ledger.acknowledged if a.request_id not in by_description.get(a.description, [])]
    clock_count = len(clocks.implied_pending_kinds(RequestStatus.routed))
    torn = [i for i in ids if deadlines.get(i, 0) != clock_count or str(i) not in audits or i not in events]
    return RequestCheck(
        acknowledged=len(ledger.acknowledged),
        stored=len(by_description),
        lost=lost,
        duplicated=sum(len(v) - 1 for v in by_description.values()),
        torn=torn,
        unacknowledged=len(ledger.attempts) - len(ledger.acknowledged),
    )


def assert_requests_safe(check: RequestCheck) -> None:
    assert check.lost == [], f"acknowledged but not stored: {check.lost[:10]}"
    assert check.duplicated == 0, f"{check.duplicated} requests stored twice"
    assert check.torn == [], f"half-written requests: {check.torn[:10]}"


# --- a scenario's traffic ----------------------------------------------------------------------------


@dataclass
class TrafficOutcome:
    """What the clients were told and received, checked against the database."""

    stack: Stack
    ledger: Ledger
    requests: RequestCheck
    events: EventCheck
    answers: collections.Counter[str]

    def result(self, scenario: str) -> ScenarioResult:
        return ScenarioResult(
            scenario,
            acknowledged=self.requests.acknowledged,
            stored=self.requests.stored,
            lost=len(self.requests.lost) + self.events.missing,
            duplicated=self.requests.duplicated,
            delivered=self.events.delivered,
            replayed=self.events.replayed,
            notes=" ".join(f"{k}x{v}" for k, v in sorted(self.answers.items()) if k != "201"),
        )

    def assert_safe(self) -> None:
        """Every request stored once and whole, every one acknowledged in the end, no 500, and every
        live client holding every event of its room in order."""
        assert_requests_safe(self.requests)
        assert self.requests.acknowledged == len(self.ledger.attempts), (
            f"requests never acknowledged: {self.answers}\n{self.stack.logs()}"
        )
        assert "500" not in self.answers, self.stack.logs()
        assert self.events.missing == 0 and self.events.out_of_order == 0, (self.events, self.stack.logs())


@dataclass
class Traffic:
    """A scenario's running traffic: live clients following the requesting court's room, and clients
    submitting requests on one case (`task`)."""

    stack: Stack
    token: str
    total: int
    watcher: EventWatcher
    ledger: Ledger
    submitter: Submitter
    task: asyncio.Task[None]

    async def until_acknowledged(self, count: int) -> None:
        """Waits until `count` requests in all have been acknowledged."""

        async def enough() -> bool:
            return len(self.ledger.acknowledged) >= count

        await wait_until(enough, what=f"{count} acknowledged requests", stack=self.stack, interval=0.05)

    async def finish(self) -> TrafficOutcome:
        """One more request after the faults (a client whose last live events were lost sees the gap),
        then the live clients caught up, closed and checked, and the stored requests checked."""
        await self.submitter.run(1, concurrency=1)
        head = await self.watcher.settle(self.stack.db)
        events = self.watcher.check(head)
        await self.watcher.close()
        requests = await verify_requests(self.stack.db, self.ledger)
        return TrafficOutcome(self.stack, self.ledger, requests, events, self.ledger.answers())


async def start_traffic(
    stack: Stack, *, nodes: int = 1, watchers: int, total: int, until: asyncio.Event | None = None
) -> Traffic:
    """Starts `nodes` app nodes and the worker, files a case of the requesting court, connects `watchers`
    live clients and starts submitting `total` requests from 4 clients (with `until`: until it is set)."""
    for _ in range(nodes):
        await stack.start_node()
    stack.start_worker()
    urls = [node.url for node in stack.nodes]
    token = stack.backend.tokens[REQUESTER]
    case_id, subject_id = await create_case(urls[-1], token, stack.name)
    watcher = EventWatcher(urls, token, count=watchers)
    await watcher.connect()
    ledger = Ledger(stack.name)
    submitter = Submitter(ledger, urls, token, case_id=case_id, subject_id=subject_id)
    task = asyncio.create_task(submitter.run(total, concurrency=4, pause=0.02, until=until))
    return Traffic(stack, token, total, watcher, ledger, submitter, task)


# --- live events -------------------------------------------------------------------------------------


class CountingClient(LiveClient):
    """A LiveClient that also counts the events the server replayed to it (after gaps and reconnects)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replayed = 0

    def _apply_heads(self, rooms: dict[str, dict[str, Any]]) -> None:
        self.replayed += sum(int(info.get("replayed") or 0) for info in rooms.values())
        super()._apply_heads(rooms)


async def room_head(db: Database, room: str) -> int:
    async with db.unit_of_work(read_only=True) as s:
        return int(await s.scalar(sa.select(RoomSequence.last_seq).where(RoomSequence.room == room)) or 0)


@dataclass
class EventCheck:
    clients: int
    delivered: int
    replayed: int
    missing: int  # events of the room a client never applied
    out_of_order: int


class EventWatcher:
    """`count` live clients of the requesting court, following its court room."""

    def __init__(self, urls: list[str], token: str, *, count: int = 1, rotate: bool = True) -> None:
        self.room = f"court:{REQUESTER}"
        self.clients: list[CountingClient] = []
        for i in range(count):
            order = urls[i % len(urls) :] + urls[: i % len(urls)] if rotate else list(urls)
            self.clients.append(CountingClient(order, token=token, backoff=(0.05, 1.0), ack_timeout=20))
        self.start_seq: list[int] = []

    async def connect(self) -> None:
        for start in range(0, len(self.clients), 20):
            await asyncio.gather(*(client.connect() for client in self.clients[start : start + 20]))
        self.start_seq = [client.tracker.last_seq(self.room) for client in self.clients]

    async def settle(self, db: Database, *, timeout: float = WAIT) -> int:
        """Waits until every client applied the room's events up to its head in the database."""
        head = await room_head(db, self.room)

        async def caught_up() -> bool:
            return all(c.tracker.last_seq(self.room) >= head for c in self.clients)

        try:
            await wait_until(caught_up, what="the live clients to catch up", timeout=timeout)
        except AssertionError:
            pass  # the check below names what is missing
        return head

    def check(self, head: int) -> EventCheck:
        missing = out_of_order = delivered = 0
        for client, start in zip(self.clients, self.start_seq, strict=True):
            seqs = client.seqs(self.room)
            expected = list(range(start + 1, head + 1))
            delivered += len(seqs)
            missing += len(set(expected) - set(seqs))
            out_of_order += int(seqs != sorted(seqs) or len(seqs) != len(set(seqs)))
        return EventCheck(
            clients=len(self.clients),
            delivered=delivered,
            replayed=sum(c.replayed for c in self.clients),
            missing=missing,
            out_of_order=out_of_order,
        )

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in self.clients), return_exceptions=True)
