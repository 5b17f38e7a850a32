"""The arq worker: settings, shared clients in `ctx`, and its jobs.

Jobs receive ids, not ORM objects, and each opens its own unit of work.

Run it with `command-center worker` (`make run` starts one). Health check, with the same CC_ settings:
`arq --check scheduler.worker.WorkerSettings` exits 0 while the worker's health key
("<CC_QUEUE_NAME>:health-check", refreshed every 10 s, expiring after 11 s) exists, 1 otherwise.
SIGTERM stops it cleanly: no new jobs, running ones get 10 s to finish, then are cancelled and stay
queued for the next worker.

`command-center worker` runs two arq workers in one process: the main one on CC_QUEUE_NAME (every job
and cron job), and a small one on the deadline backlog queue (`scheduler.deadlines.backlog_queue`)
that works through the due jobs the reconciler restores for deadlines that have already ended, so such a
backlog never delays the main queue's jobs. They share the database engine. (The arq CLI runs one worker
per process: `arq scheduler.worker.WorkerSettings` and `arq scheduler.worker.BacklogWorkerSettings`.)
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta
from typing import Any

from arq import cron
from arq.connections import RedisSettings
from arq.worker import Worker
from redis.asyncio.retry import Retry as RedisRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from command_center.calendar.periods import SHANGHAI
from command_center.db import Database, utcnow
from command_center.outbox.service import purge
from command_center.settings import Settings, get_settings
from scheduler import campaigns, deadlines, reconciler, supervision

log = logging.getLogger(__name__)


# Jobs the backlog worker runs at once: enough to drain a backlog steadily, few enough to leave the
# database (on SQLite, its single writer) to the main worker's jobs too.
BACKLOG_MAX_JOBS = 4


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or get_settings()
    ctx["settings"] = settings
    if "db" not in ctx:  # `serve` hands both of its workers one Database
        ctx["db"] = Database.from_settings(settings)
        ctx["owns_db"] = True


async def shutdown(ctx: dict[str, Any]) -> None:
    if ctx.get("owns_db"):
        await ctx["db"].dispose()


async def purge_outbox(ctx: dict[str, Any]) -> int:
    """Deletes published outbox events older than the replay retention window."""
    settings: Settings = ctx["settings"]
    async with ctx["db"].unit_of_work() as session:
        deleted = await purge(session, older_than=utcnow() - timedelta(days=settings.outbox_retention_days))
    log.info("purged %d published outbox events", deleted)
    return deleted


def redis_settings(settings: Settings) -> RedisSettings:
    """The worker's Redis connection: a dropped connection or a Redis restart retries each command with
    backoff for about half a minute instead of ending the worker (arq's default gives up at once)."""
    redis = RedisSettings.from_dsn(settings.redis_url or "redis://127.0.0.1:6379/0")
    redis.retry_on_error = [RedisConnectionError, RedisTimeoutError]
    redis.retry = RedisRetry(ExponentialBackoff(cap=2.0, base=0.05), 20)
    return redis


def worker_options(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """The arq Worker's keyword arguments for these settings (also `WorkerSettings` for the arq CLI)."""
    options: dict[str, Any] = {
        "functions": [purge_outbox],
        "cron_jobs": [cron(purge_outbox, hour={3}, minute={17}, run_at_startup=False)],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": redis_settings(settings),
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
    supervision.register(options, settings)
    options.update(overrides)
    return options


def backlog_worker_options(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """The backlog worker's arguments: the deadline jobs only, on the backlog queue, no cron jobs."""
    options = worker_options(settings)
    options.update(
        functions=list(deadlines.FUNCTIONS),
        cron_jobs=[],
        queue_name=deadlines.backlog_queue(settings.queue_name),
        max_jobs=BACKLOG_MAX_JOBS,
        ctx={"settings": settings},
    )
    options.update(overrides)
    return options


class CommandCenterWorker(Worker):
    async def _poll_iteration(self) -> None:
        # Redis restarting or a dropped connection ends this poll, not the worker: commands retry with
        # backoff (`redis_settings`), but arq does not retry a WATCH whose connection drops (WatchError)
        # nor a failed MULTI/EXEC, and either would end its main loop. The next poll starts over.
        try:
            await super()._poll_iteration()
        except (RedisConnectionError, RedisTimeoutError, WatchError) as exc:
            log.warning("worker poll failed (%s: %s); polling again", exc.__class__.__name__, exc)
            await asyncio.sleep(0.5)

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        # One id at a time, so that a Redis failure while starting a job gives back the slot arq took
        # for it (a job slot and a semaphore permit) before the error reaches `_poll_iteration`.
        for job_id in job_ids:
            try:
                await super().start_jobs([job_id])
            except (RedisConnectionError, RedisTimeoutError, WatchError):
                self.job_counter -= 1
                self.sem.release()
                raise

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


def build_backlog_worker(settings: Settings, **overrides: Any) -> Worker:
    """The worker of the deadline backlog queue; tests pass `burst=True`."""
    return CommandCenterWorker(**backlog_worker_options(settings, **overrides))


async def serve(settings: Settings) -> None:
    """Runs the main and the backlog worker until SIGTERM or SIGINT (or until one of them stops)."""
    db = Database.from_settings(settings)
    # One signal handler for both (arq's own would let the second worker replace the first's).
    workers = [
        build(settings, handle_signals=False, ctx={"settings": settings, "db": db})
        for build in (build_worker, build_backlog_worker)
    ]
    loop = asyncio.get_running_loop()

    def stop(signum: signal.Signals) -> None:
        for worker in workers:
            worker.handle_sig_wait_for_completion(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    tasks = []
    for worker in workers:
        worker.main_task = asyncio.ensure_future(worker.main())
        tasks.append(worker.main_task)
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        failed = [t.exception() for t in done if not t.cancelled() and t.exception() is not None]
        if failed:
            log.error("a worker stopped: %r; stopping the other", failed[0])
            for worker in workers:
                worker.handle_sig(signal.SIGTERM)
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        for worker in workers:
            await worker.close()
        await db.dispose()
    if failed:
        raise failed[0]


def run(settings: Settings) -> int:
    asyncio.run(serve(settings))
    return 0


def __getattr__(name: str) -> Any:
    # `arq scheduler.worker.WorkerSettings` (run) and `arq --check scheduler.worker.WorkerSettings`
    # (health) read the options from the CC_ settings when asked, never at import time.
    # `arq scheduler.worker.BacklogWorkerSettings` runs the backlog worker on its own.
    if name == "WorkerSettings":
        return worker_options(get_settings())
    if name == "BacklogWorkerSettings":
        return backlog_worker_options(get_settings())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
