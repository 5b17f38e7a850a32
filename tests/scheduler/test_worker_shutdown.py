"""The worker's own settings: the health key `arq --check` reads, and a shutdown that always completes."""

from __future__ import annotations

import asyncio
from typing import Any

from arq.connections import RedisSettings, create_pool

from scheduler import worker as worker_module
from scheduler.worker import build_worker, worker_options


def test_the_arq_cli_settings_name_the_health_key_of_our_queue(settings, monkeypatch):
    monkeypatch.setattr(worker_module, "get_settings", lambda: settings)
    options = worker_module.WorkerSettings  # what `arq --check scheduler.worker.WorkerSettings` imports
    assert options["queue_name"] == settings.queue_name
    # The same server, with retries on a dropped connection (worker.redis_settings).
    plain = RedisSettings.from_dsn(settings.redis_url)
    redis_settings = options["redis_settings"]
    assert (redis_settings.host, redis_settings.port, redis_settings.database) == (
        plain.host,
        plain.port,
        plain.database,
    )
    assert redis_settings.retry is not None and redis_settings.retry_on_error
    assert options["health_check_interval"] <= 10
    worker = build_worker(settings)
    assert worker.health_check_key == f"{settings.queue_name}:health-check"
    assert worker.health_check_key == options["queue_name"] + ":health-check"  # arq --check's default
    assert worker_options(settings)["job_completion_wait"] > 0


async def test_a_job_cancelled_at_shutdown_does_not_abort_the_shutdown(settings, private_redis):
    shut_down: list[bool] = []

    async def startup(_ctx: dict[str, Any]) -> None:
        return None

    async def shutdown(_ctx: dict[str, Any]) -> None:
        shut_down.append(True)

    pool = await create_pool(RedisSettings.from_dsn(private_redis.url))
    worker = build_worker(
        settings,
        cron_jobs=[],
        handle_signals=False,
        on_startup=startup,
        on_shutdown=shutdown,
        redis_pool=pool,
    )
    await pool.set(worker.health_check_key, b"alive")
    # A job cancelled after the grace period, its cancellation surfacing in arq's own bookkeeping.
    cancelled = asyncio.ensure_future(asyncio.sleep(60))
    cancelled.cancel()
    worker.tasks["deadline:1:v1:due"] = cancelled
    await worker.close()
    assert shut_down == [True]
    check = await create_pool(RedisSettings.from_dsn(private_redis.url))
    assert not await check.exists(worker.health_check_key)
    await check.aclose()
