"""Shared fixtures: a migrated database (SQLite or PostgreSQL), a private Redis, the app and its clients.

CC_TEST_DATABASE_URL selects PostgreSQL (a fresh database is created on that server for the run and
dropped afterwards); without it the suite runs on a SQLite file. Each test runs inside one outer
transaction that is rolled back at the end; the app's units of work become savepoints inside it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker, create_async_engine

from command_center.db import Database
from command_center.migrate import upgrade
from command_center.redis_server import PrivateRedis
from command_center.settings import Settings

pytest_plugins = ["tests.security.log_capture"]  # every log of the run, scanned for personal data
DEMO_PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cc")


@pytest.fixture(scope="session")
def redis_url(tmp_root: Path) -> Any:
    server = PrivateRedis(tmp_root / "redis")
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def private_redis(tmp_root: Path) -> Any:
    """A second private Redis that a test may stop, flush or restart."""
    server = PrivateRedis(tmp_root / "redis-faults")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def database_url(tmp_root: Path) -> AsyncIterator[str]:
    url = os.environ.get("CC_TEST_DATABASE_URL")
    if not url:
        yield f"sqlite+aiosqlite:///{tmp_root / 'test.db'}"
        return
    name = f"cc_test_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(url).set(database=name).render_as_string(hide_password=False)
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str, tmp_root: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        redis_url=redis_url,
        secret_key="test-secret-" + "x" * 32,
        var_dir=tmp_root / "var",
        log_json=False,
    )


@pytest.fixture(scope="session")
def is_postgres(settings: Settings) -> bool:
    return not settings.is_sqlite


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The run's database: migrated with Alembic and holding the court directory (committed)."""
    from command_center.courts.service import load_courts

    db = Database.from_settings(settings)
    await upgrade(db.engine)
    async with db.unit_of_work() as session:
        await load_courts(session)
    yield db
    await db.dispose()


class RollbackDatabase(Database):
    """A Database whose units of work are savepoints inside the test's outer transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.engine = connection.engine
        self.connection = connection
        self.sessionmaker = async_sessionmaker(
            bind=connection,
            expire_on_commit=False,
            class_=AsyncSession,
            join_transaction_mode="create_savepoint",
        )

    async def dispose(self) -> None:  # the session-wide engine outlives each test
        return None


@pytest.fixture
async def test_db(database: Database) -> AsyncIterator[RollbackDatabase]:
    async with database.engine.connect() as conn:
        outer = await conn.begin()
        try:
            yield RollbackDatabase(conn)
        finally:
            await outer.rollback()


@pytest.fixture
async def session(test_db: RollbackDatabase) -> AsyncIterator[AsyncSession]:
    """A session for service-level tests; everything it writes is rolled back after the test."""
    async with test_db.sessionmaker() as s:
        yield s


@pytest.fixture
async def services(settings: Settings, test_db: RollbackDatabase) -> AsyncIterator[Any]:
    from command_center.services import Services

    svc = await Services.start(settings, db=test_db)
    yield svc
    await svc.close(dispose_db=False)


@pytest.fixture
def app(settings: Settings, services: Any) -> Any:
    from command_center.app import create_app

    return create_app(settings, services=services)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with new_client(app) as c:
        yield c


@asynccontextmanager
async def new_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def make_user(services: Any) -> Callable[..., Awaitable[Any]]:
    """Creates a user: `await make_user("clerk", "330106")`; password DEMO_PASSWORD."""
    from command_center.identity import service as identity
    from command_center.identity.principal import Role

    counter = iter(range(1, 1_000_000))

    async def make(role: str, court_code: str, *, username: str | None = None, **kw: Any) -> Any:
        username = username or f"{role}_{court_code}_{next(counter)}"
        async with services.db.unit_of_work() as s:
            return await identity.create_user(
                s, username=username, password=DEMO_PASSWORD, role=Role(role), court_code=court_code, **kw
            )

    return make


class SecondFactors:
    """The TOTP secrets and recovery codes of the users a test signed in, and the time steps it spent."""

    def __init__(self) -> None:
        self.secrets: dict[int, str] = {}
        self.recovery_codes: dict[int, list[str]] = {}
        self.last_step: dict[int, int] = {}

    def code(self, user_id: int) -> str | None:
        """A code the server has not accepted yet, or None when this step's and the next one's are spent.

        The server accepts the previous, current and next step's code, each once; this step's and the
        next one's stay valid even if the server's clock reaches the next step first.
        """
        from command_center.db import utcnow
        from command_center.identity import totp

        now = totp.time_step(utcnow())
        for step in (now, now + 1):
            if step > self.last_step.get(user_id, -1):
                self.last_step[user_id] = step
                return totp.code_at(self.secrets[user_id], step)
        return None


@pytest.fixture
def second_factors() -> SecondFactors:
    return SecondFactors()


async def finish_sign_in(
    c: httpx.AsyncClient, user_id: int, response: httpx.Response, factors: SecondFactors
) -> str:
    """Completes a sign-in (a code when it answered 202; enrollment for a setup-only session); the CSRF token."""
    if response.status_code == 202:
        code = factors.code(user_id)
        body = {"challenge": response.json()["challenge"]}
        body.update({"code": code} if code else {"recovery_code": factors.recovery_codes[user_id].pop()})
        response = await c.post("/api/v1/session/second-factor", json=body)
    assert response.status_code == 200, response.text
    signed_in = response.json()
    if signed_in["second_factor_setup_required"]:
        csrf = {"X-CSRF-Token": signed_in["csrf_token"]}
        started = await c.post("/api/v1/second-factor/enrollment", headers=csrf)
        assert started.status_code == 201, started.text
        factors.secrets[user_id] = started.json()["secret"]
        code = factors.code(user_id)
        confirmed = await c.post("/api/v1/second-factor/enrollment/confirm", json={"code": code}, headers=csrf)
        assert confirmed.status_code == 200, confirmed.text
        factors.recovery_codes[user_id] = confirmed.json()["recovery_codes"]
    return signed_in["csrf_token"]


@pytest.fixture
async def login(
    app: Any, second_factors: SecondFactors
) -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    """Signs a user in on a fresh client that sends the CSRF header: `c = await login(user)`.

    Admins and command staff sign in with two factors, as in production: at their first sign-in the
    user sets up TOTP through the API (the secret and recovery codes are kept in `second_factors`),
    later sign-ins send a fresh code, or a recovery code once both usable steps' codes are spent.
    """
    clients: list[Any] = []

    async def sign_in(user: Any, password: str = DEMO_PASSWORD) -> httpx.AsyncClient:
        cm = new_client(app)
        c = await cm.__aenter__()
        clients.append(cm)
        response = await c.post("/api/v1/session", json={"username": user.username, "password": password})
        c.headers["X-CSRF-Token"] = await finish_sign_in(c, user.id, response, second_factors)
        return c

    yield sign_in
    for cm in clients:
        await cm.__aexit__(None, None, None)


@pytest.fixture
def make_token(services: Any) -> Callable[..., Awaitable[str]]:
    """Creates an API token for a court and returns the plaintext."""
    from command_center.identity import service as identity

    async def make(court_code: str, name: str = "court-system") -> str:
        async with services.db.unit_of_work() as s:
            _, plaintext = await identity.create_token(s, court_code=court_code, name=name)
        return plaintext

    return make
