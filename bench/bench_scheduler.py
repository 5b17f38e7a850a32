"""Deadline scheduling on PostgreSQL and a private Redis, each figure against a baseline of the same run.

1. The reconciler's sweep over 1,000,000 pending deadlines of which 1,000 have ended, against selecting
   those 1,000 rows by the same index (target: at most 5x). Measured twice: a sweep that finds the due
   jobs missing and enqueues them, and a sweep that finds them queued. Also: how fast a sweep rebuilds
   the schedule after Redis lost everything.
2. Enqueue-to-start latency (p50, p95) of a real worker process at several `poll_delay` values, with the
   CPU that worker burns while idle, against arq's default poll_delay of 0.5 s (target: p50 ≤ 60 ms).

Runs in a scratch database created for the run and dropped afterwards (CC_BENCH_POSTGRES_URL names the
server; default: the test server).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PENDING = 1_000_000
DUE = 1_000
ROUNDS = 15
POLL_DELAYS = (0.5, 0.1, 0.05, 0.02)
IDLE_SECONDS = 10.0


async def _generate_deadlines(db: Any) -> None:
    """1,000,000 pending request deadlines: every 1,000th ended yesterday, the rest end within 180 days."""
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text(
                f"""
                INSERT INTO deadline (subject_type, subject_id, kind, started_on, due_on, ends_at, provisional,
                                      rule, state, version, created_at)
                SELECT 'request', g, (ARRAY['file', 'start', 'report', 'supplement'])[1 + g % 4],
                       d - 7, d, ((d + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'), false,
                       'bench', 'pending', 1, now() - interval '1 day'
                FROM (
                    SELECT g, CASE WHEN g % {PENDING // DUE} = 0 THEN current_date - 1 - g % 5
                                   ELSE current_date + 1 + g % 180 END AS d
                    FROM generate_series(1, {PENDING}) AS g
                ) AS days
                """
            )
        )
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("VACUUM ANALYZE deadline"))


async def _median(
    run: Callable[[], Awaitable[Any]],
    *,
    setup: Callable[[], Awaitable[Any]] | None = None,
    rounds: int = ROUNDS,
) -> float:
    """Median seconds of `rounds` runs (each after its untimed `setup`), after one warm-up run."""
    times = []
    for _ in range(rounds + 1):
        if setup is not None:
            await setup()
        started = time.perf_counter()
        await run()
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


async def bench_sweep(db: Any, redis: Any, settings: Any, calendar: Any) -> None:
    from command_center.db import utcnow
    from scheduler import reconciler

    started = time.perf_counter()
    await _generate_deadlines(db)
    print(f"generated {PENDING:,} pending deadlines ({DUE:,} ended) in {time.perf_counter() - started:.1f}s")
    async with db.unit_of_work(read_only=True) as session:
        last_id = await session.scalar(sa.select(sa.func.max(sa.text("id"))).select_from(sa.text("deadline")))
    key = reconciler.cursor_key(settings.queue_name)
    now = utcnow()

    async def select_due() -> None:
        async with db.unit_of_work(read_only=True) as session:
            rows = (await session.execute(reconciler.due_statement(now, limit=PENDING))).all()
        assert len(rows) == DUE, len(rows)

    async def sweep() -> reconciler.SweepReport:
        return await reconciler.reconcile(db, redis, settings=settings, calendar=calendar, now=now)

    async def lose_due_jobs() -> None:
        # The state after the initial walk, with the due jobs lost: the cursor at the newest deadline.
        await redis.flushdb()
        await redis.set(key, last_id)

    async def sweep_enqueueing() -> None:
        report = await sweep()
        assert report.due == DUE and report.due_enqueued == DUE and report.scanned == 0, report

    async def sweep_queued() -> None:
        report = await sweep()
        assert report.due == DUE and report.due_enqueued == 0, report

    baseline = await _median(select_due)
    enqueueing = await _median(sweep_enqueueing, setup=lose_due_jobs)
    queued = await _median(sweep_queued)
    print(f"select the {DUE:,} ended deadlines by index: {baseline * 1000:.1f} ms (baseline)")
    print(
        f"sweep that enqueues their {DUE:,} due jobs: {enqueueing * 1000:.1f} ms; {enqueueing / baseline:.2f}x (target ≤ 5x)"
    )
    print(f"sweep that finds them queued: {queued * 1000:.1f} ms; {queued / baseline:.2f}x (target ≤ 5x)")

    # After FLUSHALL: how fast the walk rebuilds the schedule (one sweep's budget).
    await redis.flushdb()
    budget = settings.model_copy(update={"reconcile_budget_seconds": 10.0})
    started = time.perf_counter()
    report = await reconciler.reconcile(db, redis, settings=budget, calendar=calendar, now=now)
    elapsed = time.perf_counter() - started
    print(
        f"rebuild after Redis loss: {report.scanned / elapsed:,.0f} pending deadlines/s "
        f"({report.scanned:,} deadlines, {report.scheduled:,} jobs in {elapsed:.1f}s; "
        f"{(PENDING / (report.scanned / elapsed)) / 60:.1f} min for all {PENDING:,})"
    )
    await redis.flushdb()


# --- enqueue-to-start latency and idle CPU ---------------------------------------------------------------

_WORKER = """
import sys
from command_center.settings import get_settings
from scheduler.worker import build_worker
build_worker(get_settings(), poll_delay=float(sys.argv[1]), cron_jobs=[]).run()
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _latencies(redis: Any, queue: str, poll_delay: float, samples: int) -> list[float]:
    """Enqueue a cheap job at a random moment, wait for it, and read arq's enqueue and start times."""
    found = []
    for _ in range(samples):
        await asyncio.sleep(random.uniform(0, poll_delay))
        job = await redis.enqueue_job("purge_outbox", _queue_name=queue)
        assert job is not None
        while (info := await job.result_info()) is None:
            await asyncio.sleep(0.002)
        found.append((info.start_time - info.enqueue_time).total_seconds())
    return found


async def bench_latency(settings: Any, redis_url: str) -> None:
    from arq.connections import RedisSettings, create_pool

    results: dict[float, tuple[float, float, float]] = {}
    for poll_delay in POLL_DELAYS:
        queue = f"bench-latency:{uuid.uuid4().hex[:8]}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CC_")},
            "CC_DATABASE_URL": settings.database_url,
            "CC_REDIS_URL": redis_url,
            "CC_QUEUE_NAME": queue,
            "CC_LOG_LEVEL": "WARNING",
        }
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER,
            str(poll_delay),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        redis = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=queue)
        try:
            while not await redis.exists(queue + ":health-check"):
                if worker.returncode is not None:
                    raise RuntimeError(
                        (await worker.stderr.read()).decode() if worker.stderr else "worker exited"
                    )
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            before = _cpu_seconds(worker.pid)
            await asyncio.sleep(IDLE_SECONDS)
            idle_cpu = (_cpu_seconds(worker.pid) - before) / IDLE_SECONDS
            samples = 40 if poll_delay >= 0.5 else 100
            latencies = sorted(await _latencies(redis, queue, poll_delay, samples))
            p50 = statistics.median(latencies)
            p95 = latencies[int(len(latencies) * 0.95) - 1]
            results[poll_delay] = (p50, p95, idle_cpu)
        finally:
            worker.terminate()
            await asyncio.wait_for(worker.wait(), timeout=30)
            await redis.aclose()

    default_p50, _, default_cpu = results[0.5]
    print(f"{'poll_delay':>10} {'p50':>8} {'p95':>8} {'idle CPU':>9}   vs arq's default 0.5 s")
    for poll_delay, (p50, p95, cpu) in results.items():
        print(
            f"{poll_delay:>9.2f}s {p50 * 1000:>6.1f}ms {p95 * 1000:>6.1f}ms {cpu * 100:>8.2f}%"
            f"   latency {p50 / default_p50:.2f}x, idle CPU {cpu / max(default_cpu, 1e-9):.1f}x"
        )
    from scheduler.worker import worker_options

    ours = worker_options(settings)["poll_delay"]
    p50, _, cpu = results.get(ours) or results[min(results, key=lambda d: abs(d - ours))]
    print(
        f"the worker's poll_delay {ours}s: p50 {p50 * 1000:.1f} ms (target ≤ 60 ms) for "
        f"{cpu * 100:.2f}% of a core while idle"
    )


async def run() -> None:
    from arq.connections import RedisSettings, create_pool

    from command_center.calendar.service import load_calendar
    from command_center.courts.service import load_courts
    from command_center.db import Database
    from command_center.migrate import upgrade
    from command_center.redis_server import PrivateRedis
    from command_center.settings import Settings

    server = (
        os.environ.get("CC_BENCH_POSTGRES_URL") or os.environ.get("CC_TEST_POSTGRES_URL") or DEFAULT_SERVER
    )
    name = f"cc_bench_scheduler_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory() as tmp:
        private = PrivateRedis(Path(tmp) / "redis")
        redis_url = private.start()
        settings = Settings(
            database_url=url, redis_url=redis_url, log_json=False, queue_name=f"bench:{uuid.uuid4().hex[:8]}"
        )
        db = Database.from_settings(settings)
        redis = await create_pool(RedisSettings.from_dsn(redis_url))
        try:
            await upgrade(db.engine)
            async with db.unit_of_work() as session:
                await load_courts(session)
                calendar = await load_calendar(session)
            await bench_latency(settings, redis_url)
            await bench_sweep(db, redis, settings, calendar)
        finally:
            await redis.aclose()
            await db.dispose()
            private.stop()
            async with admin.connect() as conn:
                await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
