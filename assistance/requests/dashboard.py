"""`GET /api/v1/dashboard/summary`: the command dashboard's counters for the requests a court supervises.

The view is the `supervised` list view (the caller's court scope holds the supervising court), so every
number on the dashboard drills down to that list with the same filters.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.enums import CLOSED_STATUSES, DeadlineState, RequestStatus
from assistance.requests import deadlines as clocks
from assistance.requests.models import AssistanceRequest, Deadline
from assistance.requests.queries import filter_conditions
from assistance.requests.schemas import RequestFilter
from command_center.api import Call, Router, Schema
from command_center.courts.directory import CourtDirectory
from command_center.db import utcnow
from command_center.identity.principal import Principal
from command_center.identity.visibility import court_scope

router = Router(prefix="/api/v1", tags=["dashboard"])
SHANGHAI = ZoneInfo("Asia/Shanghai")


class ProvinceTile(Schema):
    code: str = Field(description="the province's two-digit region prefix followed by 0000")
    name: str
    total: int
    open: int
    overdue: int


class DashboardSummary(Schema):
    by_status: dict[str, int] = Field(description="every request status with its count (zeros included)")
    open: int = Field(description="requests not completed, withdrawn or rejected")
    overdue: int = Field(description="requests with a missed deadline or a pending one past its end")
    due_today: int = Field(description="requests with a pending deadline whose last day is today (Beijing)")
    by_province: list[ProvinceTile] = Field(description="by the province of the work's location")


async def summarize(
    session: AsyncSession, *, principal: Principal, directory: CourtDirectory, now: datetime | None = None
) -> DashboardSummary:
    """Counts the supervised view by status, overdue, due today and province (reads only)."""
    now = now or utcnow()
    conditions, _ = filter_conditions(
        court_scope(principal, directory), RequestFilter(view="supervised"), now=now
    )
    overdue = clocks.overdue_condition(AssistanceRequest.id, now=now)
    closed = AssistanceRequest.status.in_([*CLOSED_STATUSES, RequestStatus.rejected])
    rows = await session.execute(
        sa.select(AssistanceRequest.status, sa.func.count())
        .where(*conditions)
        .group_by(AssistanceRequest.status)
    )
    by_status = {status.value: 0 for status in RequestStatus}
    for status, count in rows.all():
        by_status[str(status)] = int(count)
    open_count = sum(n for s, n in by_status.items() if s not in {*CLOSED_STATUSES, RequestStatus.rejected})
    overdue_count = int(
        await session.scalar(
            sa.select(sa.func.count()).select_from(AssistanceRequest).where(*conditions, overdue)
        )
        or 0
    )
    today = now.replace(tzinfo=now.tzinfo or ZoneInfo("UTC")).astimezone(SHANGHAI).date()
    due_today = (
        sa.select(sa.literal(1))
        .select_from(Deadline)
        .where(
            Deadline.subject_type == clocks.SUBJECT_TYPE,
            Deadline.subject_id == AssistanceRequest.id,
            Deadline.state == DeadlineState.pending,
            Deadline.due_on == today,
        )
        .exists()
    )
    due_today_count = int(
        await session.scalar(
            sa.select(sa.func.count()).select_from(AssistanceRequest).where(*conditions, due_today)
        )
        or 0
    )
    province = sa.func.substr(AssistanceRequest.region_code, 1, 2)
    tiles = await session.execute(
        sa.select(
            province,
            sa.func.count(),
            sa.func.sum(sa.case((sa.not_(closed), 1), else_=0)),
            sa.func.sum(sa.case((overdue, 1), else_=0)),
        )
        .where(*conditions)
        .group_by(province)
        .order_by(province)
    )
    by_province = []
    for prefix, total, open_n, overdue_n in tiles.all():
        code = f"{prefix}0000"
        court = directory.get(code)
        by_province.append(
            ProvinceTile(
                code=code,
                name=court.name if court else code,
                total=int(total),
                open=int(open_n or 0),
                overdue=int(overdue_n or 0),
            )
        )
    return DashboardSummary(
        by_status=by_status,
        open=open_count,
        overdue=overdue_count,
        due_today=due_today_count,
        by_province=by_province,
    )


@router.get(
    "/dashboard/summary",
    summary="Counters of the requests the caller's courts supervise: by status, overdue, due today, by province",
    response=DashboardSummary,
)
async def dashboard_summary(call: Call) -> DashboardSummary:
    async with call.services.db.unit_of_work(read_only=True) as session:
        return await summarize(session, principal=call.user, directory=call.services.directory)
