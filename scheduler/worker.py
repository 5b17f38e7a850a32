"""The arq worker: settings, shared clients in `ctx`, and its jobs.

Jobs receive ids, not ORM objects, and each opens its own unit of work.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from arq import cron
from arq.connections import RedisSettings
from arq.worker import Worker

from command_center.db import Database, utcnow
from command_center.outbox.service import purge
from command_center.settings import Settings, get_settings

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


def build_worker(settings: Settings, **overrides: Any) -> Worker:
    """A worker on the settings' Redis; tests pass `burst=True`."""
    options: dict[str, Any] = {
        "functions": [purge_outbox],
        "cron_jobs": [cron(purge_outbox, hour={3}, minute={17}, run_at_startup=False)],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url or "redis://127.0.0.1:6379/0"),
        "queue_name": settings.queue_name,
        "ctx": {"settings": settings},
        "handle_signals": True,
        "health_check_interval": 10,
        "poll_delay": 0.05,
    }
    options.update(overrides)
    return Worker(**options)


def run(settings: Settings) -> int:
    worker = build_worker(settings)
    worker.run()
    return 0
