"""Page 1 of the `incoming` list view with filters over 200,000 requests, against the same listing over 2,000.

Runs on a scratch SQLite file and a scratch PostgreSQL database (CC_BENCH_POSTGRES_URL names the server;
default: the test server), both dropped afterwards. The 2,000 requests come from the demo generator
(real shapes: routing, deadlines per state, histories); the larger set copies them with INSERT … SELECT,
deadlines included, until there are 200,000. Each listing calls the real `list_requests` service (page,
total, subjects masked, deadlines of the page) in its own session, as a request handler does; the best of
several rounds counts. The ratio is the cost at 200,000 over the cost at 2,000 (target ≤ 3×).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SMALL = 2_000
LARGE = 200_000
ROUNDS = 60
# The incoming view of a clerk of the court that receives the most requests in the demo set (a Hangzhou
# district court); page 1 holds the 20 newest that pass the filters.
FILTERS = (
    {"status": "in_progress", "matter": "freeze_deposits,deduct_deposits,freeze_equity,investigate_property"},
    {"status": "routed,filed,in_progress"},
    {},
)

_REQUEST_COLUMNS = (
    "case_id, requesting_court, target_court, supervising_court, matter_type, subject_id, region_code, "
    "address, urgency, description, materials, current_freeze_expires_on, status, status_before_supplement, "
    "version, supplement_missing, supplement_answer, reject_reason, reject_note, withdraw_reason, result_text, "
    "result_attachment_ids, created_by, created_at, updated_at, routed_on, closed_at"
)
_DEADLINE_COLUMNS = "subject_type, kind, started_on, due_on, ends_at, provisional, rule, state, version, created_at, closed_at"


async def _copy(db: Any, target: int) -> int:
    """Copies the requests (and their deadlines) with shifted ids until there are `target` of them."""
    async with db.unit_of_work() as session:
        count = await session.scalar(sa.text("SELECT count(*) FROM assistance_request"))
        while count < target:
            offset = await session.scalar(sa.text("SELECT max(id) FROM assistance_request"))
            take = min(count, target - count)
            last = await session.scalar(
                sa.text(
                    "SELECT max(id) FROM (SELECT id FROM assistance_request ORDER BY id LIMIT :take) AS firsts"
                ),
                {"take": take},
            )
            await session.execute(
                sa.text(
                    f"INSERT INTO assistance_request (id, {_REQUEST_COLUMNS}) "
                    f"SELECT id + :offset, {_REQUEST_COLUMNS} FROM assistance_request WHERE id <= :last"
                ),
                {"offset": offset, "last": last},
            )
            await session.execute(
                sa.text(
                    f"INSERT INTO deadline (subject_id, {_DEADLINE_COLUMNS}) "
                    f"SELECT subject_id + :offset, {_DEADLINE_COLUMNS} FROM deadline "
                    "WHERE subject_type = 'request' AND subject_id <= :last"
                ),
                {"offset": offset, "last": last},
            )
            count = await session.scalar(sa.text("SELECT count(*) FROM assistance_request"))
        if db.engine.dialect.name == "postgresql":
            await session.execute(
                sa.text(
                    "SELECT setval(pg_get_serial_sequence('assistance_request', 'id'), "
                    "(SELECT max(id) FROM assistance_request))"
                )
            )
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("ANALYZE"))
    return count


async def _time_listing(
    db: Any, directory: Any, court: str, filters: dict[str, str]
) -> tuple[float, float, int]:
    """The median and best cost of page 1 of the incoming view with `filters` (seconds), and its total."""
    from assistance.requests.queries import list_requests
    from assistance.requests.schemas import RequestFilter
    from command_center.identity.principal import Principal, Role

    principal = Principal(kind="user", id=1, name="bench", court_code=court, role=Role.clerk)
    query = RequestFilter(view="incoming", **filters)
    timings, total = [], 0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        async with db.unit_of_work(read_only=True) as session:
            _items, total = await list_requests(
                session, principal=principal, directory=directory, filters=query
            )
        timings.append(time.perf_counter() - started)
    return min(timings), statistics.median(timings), total


async def _run_on(url: str, label: str) -> None:
    from assistance.demo import load_demo_cases
    from command_center.calendar.service import load_calendar
    from command_center.courts.directory import load_directory
    from command_center.courts.service import load_courts
    from command_center.db import Database
    from command_center.migrate import upgrade
    from command_center.settings import Settings

    db = Database.from_settings(Settings(database_url=url, log_json=False))
    try:
        await upgrade(db.engine)
        async with db.unit_of_work() as session:
            await load_courts(session)
        async with db.unit_of_work() as session:
            directory = await load_directory(session)
            calendar = await load_calendar(session)
            await load_demo_cases(
                session, directory=directory, calendar=calendar, cases=4_000, requests=SMALL, seed=2026
            )
        await _copy(db, SMALL)  # ANALYZE
        async with db.unit_of_work(read_only=True) as session:
            court = await session.scalar(
                sa.text(
                    "SELECT target_court FROM assistance_request GROUP BY target_court ORDER BY count(*) DESC, "
                    "target_court LIMIT 1"
                )
            )
        print(f"[{label}] incoming view of court {court} ({directory.require(court).name})", flush=True)
        small = {k: await _time_listing(db, directory, court, f) for k, f in _keyed(FILTERS)}
        started = time.perf_counter()
        grown = await _copy(db, LARGE)
        print(f"[{label}] grew to {grown:,} requests in {time.perf_counter() - started:.1f}s", flush=True)
        large = {k: await _time_listing(db, directory, court, f) for k, f in _keyed(FILTERS)}
        for key, (s_best, s_med, s_total) in small.items():
            l_best, l_med, l_total = large[key]
            print(
                f"[{label}] incoming {key or 'no filter'}: {SMALL:,} requests {s_best * 1000:.2f} ms "
                f"(median {s_med * 1000:.2f}, total {s_total}); {LARGE:,} requests {l_best * 1000:.2f} ms "
                f"(median {l_med * 1000:.2f}, total {l_total:,}); ratio {l_med / s_med:.2f}x "
                + (
                    "(target ≤ 3x)"
                    if key
                    else "(no target: an unfiltered view counts every row for its total)"
                ),
                flush=True,
            )
    finally:
        await db.dispose()


def _keyed(filters: tuple[dict[str, str], ...]) -> list[tuple[str, dict[str, str]]]:
    return [(" ".join(f"{k}={v}" for k, v in f.items()), f) for f in filters]


async def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await _run_on(f"sqlite+aiosqlite:///{Path(tmp) / 'listing.db'}", "SQLite")
    server = (
        os.environ.get("CC_BENCH_POSTGRES_URL") or os.environ.get("CC_TEST_POSTGRES_URL") or DEFAULT_SERVER
    )
    name = f"cc_bench_listing_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            await _run_on(
                make_url(server).set(database=name).render_as_string(hide_password=False), "PostgreSQL"
            )
        finally:
            async with admin.connect() as conn:
                await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
