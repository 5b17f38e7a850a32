"""Handing a campaign's dispatch to the worker queue (arq) after the state change has committed.

Enqueuing is best effort: the database already says the campaign is dispatching, and the worker's
reconciler starts a job for any dispatching campaign that has none, so a Redis outage here delays
the dispatch but loses nothing.
"""

from __future__ import annotations

import logging

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.exceptions import RedisError

from assistance.campaigns.service import DISPATCH_JOB
from command_center.settings import Settings

log = logging.getLogger(__name__)


async def enqueue_dispatch(settings: Settings, *, campaign_id: int, job_id: str) -> bool:
    """Enqueues the dispatch job under `job_id` (arq ignores an id already queued, running or kept);
    returns False when Redis could not be reached."""
    redis_settings = RedisSettings.from_dsn(settings.redis_url or "redis://127.0.0.1:6379/0")
    redis_settings.conn_retries = 0
    pool: ArqRedis | None = None
    try:
        pool = await create_pool(redis_settings, default_queue_name=settings.queue_name)
        await pool.enqueue_job(DISPATCH_JOB, campaign_id, _job_id=job_id, _queue_name=settings.queue_name)
        return True
    except (OSError, RedisError) as exc:
        log.warning(
            "could not enqueue %s for campaign %s (the reconciler will): %s", job_id, campaign_id, exc
        )
        return False
    finally:
        if pool is not None:
            await pool.aclose()
