"""The arq worker: settings, shared clients in `ctx`, and its jobs.

Jobs receive ids, not ORM objects, and each opens its own unit of work.

Run it with `command-center worker` (`make run` starts one). Health check, with the same CC_ settings:
`arq --check scheduler.worker.WorkerSettings` exits 0 while the worker's health key
("<CC_QUEUE_NAME>:health-check", refreshed every 10 s, expiring after 11 s) exists, 1 otherwise.
SIGTERM stops it cleanly: no new jobs, running ones get 10 s to finish, then are cancelled and stay
queued for the next worker.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from arq import cron
from arq.connections import RedisSettings
from arq.worker import Worker

from command_center.calendar.periods import SHANGHAI
from command_center.db import Database, utcnow
from command_center.outbox.service import purge
from command_center.settings import Settings, get_settings
from scheduler import campaigns, deadlines, reconciler

log = logging.getLogger(__name__)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or get_settings()
    ctx["settings"] = settings
    ctx["db"] = Database.from_settings(settings)


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["db"].dispose()


async def purge_outbox(ctx: dict[str, Any]) -> int:
    """Deletes published outbox events older than the replay retention window."""
    settings: Settings = ctx["settings"]
    async with ctx["db"].unit_of_work() as session:
        deleted = await purge(session, older_than=utcnow() - timedelta(days=settings.outbox_retention_days))
    log.info("purged %d published outbox events", deleted)
    return deleted


def worker_options(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """The arq Worker's keyword arguments for these settings (also `WorkerSettings` for the arq CLI)."""
    options: dict[str, Any] = {
        "functions": [purge_outbox],
        "cron_jobs": [cron(purge_outbox, hour={3}, minute={17}, run_at_startup=False)],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url or "redis://127.0.0.1:6379/0"),
        "queue_name": settings.queue_name,
        "ctx": {"settings": settings},
        "handle_signals": True,
        # The worker writes "<queue_name>:health-check" every 10 s with an 11 s expiry; `arq --check
        # scheduler.worker.WorkerSettings` (exit status 0 = healthy) reads that key.
        "health_check_interval": 10,
        # SIGTERM/SIGINT: stop taking jobs, let running ones finish for up to 10 s, then cancel the rest;
        # a cancelled job stays queued and runs again (every job here is safe to run twice).
        "job_completion_wait": 10,
        "poll_delay": 0.05,
        "timezone": SHANGHAI,  # cron hours (the 18:00 campaign reports) are Asia/Shanghai time
    }
    campaigns.register(options, settings)
    deadlines.register(options, settings)
    reconciler.register(options, settings)
    options.update(overrides)
    return options


class CommandCenterWorker(Worker):
    async def close(self) -> None:
        # At shutdown arq cancels the jobs still running after `job_completion_wait` and then gathers
        # them without return_exceptions: a cancellation that lands in a job's own bookkeeping would
        # abort the rest of the shutdown (health key, on_shutdown, pool) and exit with status 1. The
        # cancelled jobs stay queued and run again; the shutdown goes on.
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()
        await super().close()


def build_worker(settings: Settings, **overrides: Any) -> Worker:
    """A worker on the settings' Redis; tests pass `burst=True`."""
    return CommandCenterWorker(**worker_options(settings, **overrides))


def run(settings: Settings) -> int:
    worker = build_worker(settings)
    worker.run()
    return 0


def __getattr__(name: str) -> Any:
    # `arq scheduler.worker.WorkerSettings` (run) and `arq --check scheduler.worker.WorkerSettings`
    # (health) read the options from the CC_ settings when asked, never at import time.
    if name == "WorkerSettings":
        return worker_options(get_settings())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
