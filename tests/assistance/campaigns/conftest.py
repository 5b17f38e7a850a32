"""Campaign fixtures: the app's services on a private arq queue, and a burst worker on the test database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from command_center.settings import Settings


@pytest.fixture
async def services(settings: Settings, test_db: Any) -> AsyncIterator[Any]:
    """The app's services with a queue of the test's own, so its worker runs only the jobs it enqueued."""
    from command_center.services import Services

    private = settings.model_copy(update={"queue_name": f"campaigns-test:{uuid.uuid4().hex[:8]}"})
    svc = await Services.start(private, db=test_db)
    # Campaign ids repeat from test to test (each rolls back), and so would their arq job ids: forget
    # the jobs and results earlier tests left behind.
    stale = [key async for key in svc.redis.scan_iter(match="arq:*campaign:*")]
    if stale:
        await svc.redis.delete(*stale)
    yield svc
    await svc.close(dispose_db=False)


@pytest.fixture
def run_worker(services: Any) -> Callable[[], Awaitable[int]]:
    """Runs a real arq worker in burst mode on the test's queue and database; returns jobs completed."""
    from scheduler.worker import build_worker

    async def run() -> int:
        async def startup(ctx: dict[str, Any]) -> None:
            ctx["db"] = services.db

        async def shutdown(ctx: dict[str, Any]) -> None:
            return None

        worker = build_worker(
            services.settings,
            burst=True,
            max_jobs=1,  # one connection underneath the test's transaction: one job at a time
            cron_jobs=[],
            on_startup=startup,
            on_shutdown=shutdown,
            handle_signals=False,
        )
        try:
            await worker.main()
        finally:
            await worker.close()
        return worker.jobs_complete

    return run
