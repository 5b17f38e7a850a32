"""Timestamp columns store UTC instants, hand back aware UTC datetimes and refuse naive ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.courts.models import Court
from command_center.db import UtcDateTime
from command_center.outbox.models import OutboxEvent

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIDNIGHT_SHANGHAI = datetime(2026, 3, 18, 0, 0, tzinfo=SHANGHAI)  # 2026-03-17 16:00 UTC


def test_column_type_is_a_plain_timezone_aware_timestamp() -> None:
    assert str(UtcDateTime().compile(dialect=postgresql.dialect())) == "TIMESTAMP WITH TIME ZONE"
    assert str(UtcDateTime().compile(dialect=sqlite.dialect())) == "DATETIME"


async def test_shanghai_instant_reads_back_as_the_same_instant_in_utc(session: AsyncSession) -> None:
    event = OutboxEvent(
        event_id="e1",
        room="court:330106",
        seq=1,
        name="test:stored",
        payload={},
        created_at=MIDNIGHT_SHANGHAI,
    )
    session.add(event)
    await session.flush()
    session.expunge(event)

    loaded = (await session.execute(sa.select(OutboxEvent).where(OutboxEvent.id == event.id))).scalar_one()
    assert loaded.created_at == MIDNIGHT_SHANGHAI
    assert loaded.created_at.tzinfo is UTC
    assert loaded.created_at.hour == 16
    assert loaded.published_at is None


async def test_core_update_and_comparison_use_the_instant_not_the_wall_time(session: AsyncSession) -> None:
    # Without the type, SQLite would store and compare the Shanghai wall time, 8 hours off.
    await session.execute(sa.update(Court).where(Court.code == "330106").values(updated_at=MIDNIGHT_SHANGHAI))
    stored = await session.scalar(sa.select(Court.updated_at).where(Court.code == "330106"))
    assert stored == MIDNIGHT_SHANGHAI and stored.tzinfo is UTC

    just_before_in_utc = datetime(2026, 3, 17, 15, 59, tzinfo=UTC)
    later = sa.select(Court.code).where(Court.code == "330106", Court.updated_at > just_before_in_utc)
    assert await session.scalar(later) == "330106"
    earlier = sa.select(Court.code).where(
        Court.code == "330106", Court.updated_at < MIDNIGHT_SHANGHAI + timedelta(seconds=1)
    )
    assert await session.scalar(earlier) == "330106"


async def test_naive_datetime_is_refused(session: AsyncSession) -> None:
    naive = datetime(2026, 3, 18, 0, 0)
    with pytest.raises(StatementError, match="naive datetime"):
        await session.execute(sa.update(Court).where(Court.code == "330106").values(updated_at=naive))
