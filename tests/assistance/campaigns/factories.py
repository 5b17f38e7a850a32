"""Building campaign test data quickly: cases inserted in bulk, campaigns created through the service."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from assistance.campaigns import dispatch, service
from assistance.campaigns.models import Campaign
from assistance.campaigns.schemas import CampaignCreate
from assistance.cases.models import EnforcementCase
from command_center.courts.directory import CourtDirectory
from command_center.db import utcnow
from command_center.identity.principal import Principal, Role

_CASE = EnforcementCase.__table__
_principal_ids = itertools.count(800_000)
TODAY = service.shanghai_today()
FILED_ON = date(2025, 6, 1)


def staff(court_code: str, role: str = "command_staff", *, kind: str = "user") -> Principal:
    """A caller in `court_code` (command staff unless told otherwise)."""
    n = next(_principal_ids)
    if kind == "token":
        return Principal(kind="token", id=n, name=f"court-system-{n}", court_code=court_code, role=Role.clerk)
    return Principal(
        kind="user", id=n, name=f"{role}_{court_code}_{n}", court_code=court_code, role=Role(role)
    )


async def insert_cases(
    session: AsyncSession | AsyncConnection,
    *,
    count: int,
    courts: Sequence[str],
    category: str = "wages",
    status: str = "open",
    priority: str = "normal",
    amount_claimed: int = 5_000_000,
    amount_recovered: int = 0,
    filed_on: date = FILED_ON,
    tag: str | None = None,
) -> list[int]:
    """Inserts `count` cases spread round-robin over `courts` in one statement; returns their ids in order."""
    tag = tag or uuid.uuid4().hex[:12]
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "case_number": f"T{tag}-{category[:4]}-{status[:4]}-{i}",
            "court_code": courts[i % len(courts)],
            "category": category,
            "status": status,
            "priority": priority,
            "amount_claimed": amount_claimed,
            "amount_recovered": amount_recovered,
            "filed_on": filed_on,
            "created_by": "test",
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        for i in range(count)
    ]
    await session.execute(sa.insert(_CASE), rows)
    prefix = f"T{tag}-{category[:4]}-{status[:4]}-"
    ids = await session.execute(
        sa.select(_CASE.c.id).where(_CASE.c.case_number.like(prefix + "%")).order_by(_CASE.c.id)
    )
    return list(ids.scalars().all())


async def create_campaign(
    session: AsyncSession,
    directory: CourtDirectory,
    *,
    creator: Principal,
    name: str = "春节前涉民生案件专项执行行动",
    window: tuple[date, date] | None = None,
    **criteria: Any,
) -> Campaign:
    """A draft campaign created through the service (validation, event, audit)."""
    start, end = window or (TODAY, TODAY + timedelta(days=30))
    data = CampaignCreate.model_validate(
        {"name": name, "window_start": start, "window_end": end, "criteria": criteria}
    )
    return await service.create(session, data=data, creator=creator, directory=directory, today=TODAY)


async def drain_dispatch(
    session: AsyncSession, campaign: Campaign, *, batch_size: int = 7
) -> list[dispatch.BatchOutcome]:
    """Runs dispatch batches as the campaign's current job until none is left; returns each outcome."""
    outcomes = []
    while True:
        outcome = await dispatch.dispatch_batch(
            session, campaign_id=campaign.id, job_id=campaign.dispatch_job_id, batch_size=batch_size
        )
        outcomes.append(outcome)
        if not outcome.more:
            return outcomes
