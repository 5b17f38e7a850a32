"""`GET /api/v1/periods`: when a legal period ends, computed on the official calendar."""

from __future__ import annotations

from typing import Any

from command_center.api import Call, Router
from command_center.calendar.models import PeriodQuery, PeriodRead
from command_center.calendar.service import period_json

router = Router(prefix="/api/v1", tags=["periods"])


@router.get(
    "/periods",
    summary="Compute a period in days, months or working days (Civil Code arts. 201-203)",
    query=PeriodQuery,
    response=PeriodRead,
    auth=True,
)
async def get_period(call: Call) -> dict[str, Any]:
    q: PeriodQuery = call.query
    return period_json(call.services.calendar, q.start, q.days, q.months, q.working_days)
