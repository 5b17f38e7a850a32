"""Campaign dispatch of 1,000,000 matching cases on PostgreSQL, against one INSERT … SELECT of the same tasks.

Runs in a scratch database created for the run and dropped afterwards (CC_BENCH_POSTGRES_URL names the
server; default: the test server). The dispatch goes through the real code path — the API's
`start_dispatch` transaction, then the worker's `dispatch_campaign` job, batch by batch with the
default batch size — and also raises each case's priority, notifies the courts and writes progress
events, which the baseline does not. The baseline is timed before and after the dispatch and the
faster run is used, so the ratio is not flattered by a cold cache.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
MATCHING = 1_000_000
NON_MATCHING = 250_000
LIVELIHOOD = ("wages", "alimony_support", "medical_malpractice", "work_injury")


async def _generate_cases(db: Any, courts: list[str]) -> None:
    """1,000,000 open livelihood cases claiming enough, and 250,000 that miss one criterion each."""
    court_array = "ARRAY[" + ",".join(f"'{c}'" for c in courts) + "]"
    categories = "ARRAY[" + ",".join(f"'{c}'" for c in LIVELIHOOD) + "]"
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text(
                f"""
                INSERT INTO enforcement_case
                    (case_number, court_code, category, status, priority, amount_claimed, amount_recovered,
                     filed_on, created_by, created_at, updated_at, version)
                SELECT 'BENCH-' || g,
                       ({court_array})[1 + g % {len(courts)}],
                       CASE WHEN g % 5 = 0 AND g > {MATCHING} THEN 'commercial'
                            ELSE ({categories})[1 + g % 4] END,
                       CASE WHEN g % 5 = 1 AND g > {MATCHING} THEN 'concluded' ELSE 'open' END,
                       'normal',
                       CASE WHEN g % 5 = 2 AND g > {MATCHING} THEN 100 ELSE 1000000 + g % 997 * 100 END,
                       g % 7 * 100,
                       CASE WHEN g % 5 IN (3, 4) AND g > {MATCHING} THEN DATE '2026-02-01'
                            ELSE DATE '2020-01-01' + (g % 2000) END,
                       'bench', now(), now(), 1
                FROM generate_series(1, {MATCHING + NON_MATCHING}) AS g
                """
            )
        )
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("VACUUM ANALYZE enforcement_case"))


async def _reset_tasks(db: Any) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("TRUNCATE campaign_task, campaign_court_notice"))
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("VACUUM ANALYZE campaign_task"))


async def _baseline(db: Any, campaign: Any) -> float:
    """Seconds for one INSERT … SELECT of the same task rows, in one transaction."""
    from assistance.campaigns.models import CampaignTask
    from assistance.campaigns.service import case_conditions
    from assistance.cases.models import EnforcementCase

    case, task = EnforcementCase.__table__, CampaignTask.__table__
    rows = sa.select(
        sa.literal(campaign.id, sa.Integer),
        case.c.id,
        case.c.court_code,
        sa.literal("open", sa.String),
        case.c.amount_recovered,
        sa.func.now(),
    ).where(*case_conditions(campaign))
    columns = ["campaign_id", "case_id", "court_code", "state", "amount_recovered_at_start", "created_at"]
    started = time.perf_counter()
    async with db.unit_of_work() as session:
        result = await session.execute(sa.insert(task).from_select(columns, rows))
    elapsed = time.perf_counter() - started
    assert result.rowcount == MATCHING, result.rowcount
    return elapsed


async def _dispatch(
    db: Any, settings: Any, campaign_id: int, creator: Any, directory: Any
) -> tuple[float, dict]:
    """Seconds for start_dispatch plus the dispatch job, as the API and the worker run them."""
    from assistance.campaigns import service
    from scheduler.campaigns import dispatch_campaign

    started = time.perf_counter()
    async with db.unit_of_work() as session:
        campaign, _ = await service.start_dispatch(
            session, campaign_id=campaign_id, actor=creator, directory=directory
        )
    result = await dispatch_campaign(
        {"db": db, "settings": settings, "job_id": campaign.dispatch_job_id}, campaign_id
    )
    elapsed = time.perf_counter() - started
    assert result["done"] == MATCHING and result["status"] == "active", result
    return elapsed, result


async def run() -> None:
    from assistance.campaigns import service
    from assistance.campaigns.schemas import CampaignCreate
    from command_center.courts.directory import load_directory
    from command_center.courts.enums import CourtLevel
    from command_center.courts.service import load_courts
    from command_center.db import Database
    from command_center.identity.principal import Principal, Role
    from command_center.migrate import upgrade
    from command_center.settings import Settings

    server = (
        os.environ.get("CC_BENCH_POSTGRES_URL") or os.environ.get("CC_TEST_POSTGRES_URL") or DEFAULT_SERVER
    )
    name = f"cc_bench_campaigns_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    settings = Settings(database_url=url, log_json=False)
    db = Database.from_settings(settings)
    try:
        await upgrade(db.engine)
        async with db.unit_of_work() as session:
            await load_courts(session)
            directory = await load_directory(session)
        courts = [entry.code for entry in directory.by_level(CourtLevel.basic)]

        started = time.perf_counter()
        await _generate_cases(db, courts)
        print(
            f"generated {MATCHING + NON_MATCHING:,} cases ({MATCHING:,} matching) in "
            f"{time.perf_counter() - started:.1f}s",
            flush=True,
        )

        creator = Principal(kind="user", id=1, name="bench", court_code="000000", role=Role.command_staff)
        body = {
            "name": "春节前涉民生案件专项执行行动",
            "window_start": service.shanghai_today().isoformat(),
            "window_end": service.shanghai_today().isoformat(),
            "criteria": {"livelihood": True, "filed_before": "2026-01-01", "min_amount": 100_000},
        }
        async with db.unit_of_work() as session:
            reference = await service.create(
                session, data=CampaignCreate.model_validate(body), creator=creator, directory=directory
            )
            campaign = await service.create(
                session, data=CampaignCreate.model_validate(body), creator=creator, directory=directory
            )

        first = await _baseline(db, reference)
        await _reset_tasks(db)
        dispatched, result = await _dispatch(db, settings, campaign.id, creator, directory)
        await _reset_tasks(db)
        second = await _baseline(db, reference)
        baseline = min(first, second)

        baseline_rate, dispatch_rate = MATCHING / baseline, MATCHING / dispatched
        print(f"baseline INSERT … SELECT: {baseline_rate:,.0f} tasks/s ({first:.1f}s, {second:.1f}s)")
        print(
            f"dispatch (batch {settings.campaign_dispatch_batch_size}, {result['batches']} batches): "
            f"{dispatch_rate:,.0f} cases/s ({dispatched:.1f}s); {dispatch_rate / baseline_rate:.2f}x of the baseline "
            f"(target ≥ 0.20x)"
        )
    finally:
        await db.dispose()
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
