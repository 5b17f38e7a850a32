"""Fixtures for the deadline jobs and the reconciler: a Redis the test may flush, a clock the test moves,
and the job context a worker would hand to the jobs.

Requests come from the request services themselves (`submit`, `act`: the request tests' fixtures).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool

from command_center.settings import Settings
from tests.assistance.conftest import (  # noqa: F401  (fixtures)
    case_body,
    court_directory,
    legal_calendar,
    make_case,
    principal_of,
)
from tests.assistance.requests.conftest import act, actor_for, request_in_state_for, submit  # noqa: F401


@dataclass
class Clock:
    """A clock the test sets and moves; jobs read it through `ctx["clock"]`."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def deadline_settings(settings: Settings) -> Settings:
    """The test settings on a queue of the test's own, with a schedule cursor that never waits."""
    return settings.model_copy(
        update={"queue_name": f"deadline-jobs:{uuid.uuid4().hex[:8]}", "reconcile_settle_seconds": 0}
    )


async def flush(redis: Any) -> None:
    """Empties the private Redis (what a restart without persistence, or FLUSHALL, does)."""
    await redis.flushall()


@pytest.fixture
async def deadline_redis(private_redis: Any) -> AsyncIterator[ArqRedis]:
    """An arq client on the private Redis, flushed before and after the test."""
    pool = await create_pool(RedisSettings.from_dsn(private_redis.url))
    await flush(pool)
    yield pool
    await flush(pool)
    await pool.aclose()


@pytest.fixture
def clock() -> Clock:
    from command_center.calendar.periods import SHANGHAI

    return Clock(datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI))


@pytest.fixture
def job_ctx(
    test_db: Any,
    deadline_settings: Settings,
    deadline_redis: ArqRedis,
    court_directory: Any,  # noqa: F811
    legal_calendar: Any,  # noqa: F811
    clock: Clock,
) -> dict[str, Any]:
    """What the worker hands a job: its clients, settings and reference data, plus the test's clock."""
    return {
        "db": test_db,
        "redis": deadline_redis,
        "settings": deadline_settings,
        "directory": court_directory,
        "calendar": legal_calendar,
        "clock": clock,
    }
