"""`GET /api/v1/periods`: when a legal period ends; `/api/v1/calendar/years`: the official years loaded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import Field as SchemaField
from pydantic import field_validator

from command_center.api import Call, Router, Schema
from command_center.audit import service as audit
from command_center.calendar.models import CalendarYear, CalendarYearRead, PeriodQuery, PeriodRead
from command_center.calendar.schedule import PACKAGE_VERSION, package_schedules
from command_center.calendar.service import list_calendar_years, load_calendar_year, period_json
from command_center.errors import Forbidden
from command_center.identity.principal import Role

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


# --- official years (administration) -------------------------------------------------------------


class CalendarYearSummary(Schema):
    year: int
    origin: str = SchemaField(description='"package" (chinesecalendar) or "loaded" (by an administrator)')
    source: str = SchemaField(description="the notice or package the schedule comes from")
    holidays: int = SchemaField(description="days off listed, weekend days inside holiday blocks included")
    workdays: int = SchemaField(description="weekend days swapped into working days")
    loaded_at: datetime | None = SchemaField(description="when an administrator loaded it (loaded years)")
    replaces_package: bool = SchemaField(description="a loaded year the package also covers")

    @field_validator("loaded_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # SQLite hands back naive UTC timestamps; the API always writes the offset.
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


class CalendarYearsRead(Schema):
    package_version: str = SchemaField(description="version of the chinesecalendar package in use")
    years: list[CalendarYearSummary] = SchemaField(
        description="every year with an official schedule, by year"
    )


class CalendarYearBody(Schema):
    """One year's official schedule, in the file format of `command-center load-calendar`."""

    year: int = SchemaField(description="e.g. 2027")
    holidays: dict[str, str] = SchemaField(description='"YYYY-MM-DD" -> holiday name, every day off')
    workdays: dict[str, str] = SchemaField(
        description='"YYYY-MM-DD" -> holiday paid for, swapped weekend days'
    )
    source: str = SchemaField(description="the State Council notice that announced the schedule")


def _year_summaries(loaded: list[CalendarYear]) -> list[CalendarYearSummary]:
    package = {schedule.year: schedule for schedule in package_schedules()}
    summaries = {
        year: CalendarYearSummary(
            year=year,
            origin="package",
            source=schedule.source,
            holidays=len(schedule.holidays),
            workdays=len(schedule.workdays),
            loaded_at=None,
            replaces_package=False,
        )
        for year, schedule in package.items()
    }
    for row in loaded:  # a loaded year replaces the package's whole year (see schedule.py)
        summaries[row.year] = CalendarYearSummary(
            year=row.year,
            origin="loaded",
            source=row.source,
            holidays=len(row.holidays),
            workdays=len(row.workdays),
            loaded_at=row.loaded_at,
            replaces_package=row.year in package,
        )
    return [summaries[year] for year in sorted(summaries)]


@router.get(
    "/calendar/years",
    summary="The years with an official holiday schedule: the package's and those loaded by administrators",
    response=CalendarYearsRead,
    auth=True,
)
async def list_official_years(call: Call) -> CalendarYearsRead:
    async with call.services.db.unit_of_work(read_only=True) as session:
        loaded = await list_calendar_years(session)
        return CalendarYearsRead(package_version=PACKAGE_VERSION, years=_year_summaries(loaded))


@router.post(
    "/calendar/years",
    summary="Load a newly announced year's official schedule (administrators of the SPC); replaces that year",
    body=CalendarYearBody,
    response=CalendarYearRead,
    auth=True,
)
async def load_official_year(call: Call) -> CalendarYearRead:
    principal = call.user
    directory = call.services.directory
    if (
        principal.kind != "user"
        or principal.role != Role.admin
        or principal.court_code != directory.supreme.code
    ):
        raise Forbidden("Only an administrator of the Supreme People's Court may load a calendar year.")
    body: CalendarYearBody = call.body
    async with call.services.db.unit_of_work() as session:
        row = await load_calendar_year(session, data=body.model_dump())
        await audit.record(
            session,
            action="calendar.loaded",
            actor=principal,
            subject_type="calendar_year",
            subject_id=str(row.year),
            details={"source": row.source, "holidays": len(row.holidays), "workdays": len(row.workdays)},
        )
        read = CalendarYearRead.model_validate(row)
    # After commit: deadlines computed on this node from now on use the new year.
    await call.services.reload_calendar()
    return read
