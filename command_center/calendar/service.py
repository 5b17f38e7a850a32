"""Loading official schedules into the database, building the calendar, and computing periods on request.

The API route (`GET /api/v1/periods`) and the CLI (`command-center period`, `command-center load-calendar`)
both go through these functions, so a period is computed and validated one way only.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.calendar.models import (
    MAX_DAYS,
    MAX_MONTHS,
    MAX_WORKING_DAYS,
    CalendarYear,
    PeriodRead,
)
from command_center.calendar.periods import Period, add_days, add_months, add_working_days
from command_center.calendar.schedule import (
    MAX_YEAR,
    MIN_YEAR,
    LegalCalendar,
    parse_iso_date,
    parse_year_schedule,
)
from command_center.db import utcnow
from command_center.errors import InvalidInput

MAX_CALENDAR_FILE = 256 * 1024
_UNITS = {
    "days": (add_days, MAX_DAYS),
    "months": (add_months, MAX_MONTHS),
    "working_days": (add_working_days, MAX_WORKING_DAYS),
}


async def load_calendar_year(session: AsyncSession, *, data: dict[str, Any]) -> CalendarYear:
    """Validates a year's official schedule and stores it, replacing an earlier load of that year."""
    schedule = parse_year_schedule(data)
    holidays = {d.isoformat(): name for d, name in sorted(schedule.holidays.items())}
    workdays = {d.isoformat(): name for d, name in sorted(schedule.workdays.items())}
    row = await session.get(CalendarYear, schedule.year)
    if row is None:  # two loads of one new year at once: the second insert fails on the primary key
        row = CalendarYear(year=schedule.year, loaded_at=utcnow(), source=schedule.source,
                           holidays=holidays, workdays=workdays)
        session.add(row)
    else:  # a corrected notice replaces the whole year, never merges into it
        row.holidays, row.workdays, row.source, row.loaded_at = holidays, workdays, schedule.source, utcnow()
    await session.flush()
    return row


async def list_calendar_years(session: AsyncSession) -> list[CalendarYear]:
    """Every loaded year, oldest first."""
    return list((await session.scalars(select(CalendarYear).order_by(CalendarYear.year))).all())


async def load_calendar(session: AsyncSession) -> LegalCalendar:
    """Builds the in-memory calendar: the package's schedule with every loaded year taking precedence."""
    return LegalCalendar.from_package(row.schedule() for row in await list_calendar_years(session))


def read_calendar_file(path: str | Path) -> dict[str, Any]:
    """Reads a schedule file (format in `schedule.py`) as a dict for `load_calendar_year`."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if len(raw) > MAX_CALENDAR_FILE:
        raise InvalidInput(f"{path} is larger than {MAX_CALENDAR_FILE // 1024} KiB; is it the right file?")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path} is not UTF-8 JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} must hold one JSON object with year, holidays, workdays, source.")
    return data


def compute_period(
    cal: LegalCalendar,
    start: date | str,
    days: int | None = None,
    months: int | None = None,
    working_days: int | None = None,
) -> Period:
    """The period of exactly one of `days`, `months`, `working_days` from `start`; else InvalidInput."""
    start_day = _start_date(start)
    units = (("days", days), ("months", months), ("working_days", working_days))
    given = {unit: n for unit, n in units if n is not None}
    if len(given) != 1:
        named = " and ".join(given) if given else "none"
        raise InvalidInput(f"Give exactly one of days, months or working_days (got {named}).")
    [(unit, n)] = given.items()
    add, cap = _UNITS[unit]
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= cap:
        raise InvalidInput(f"{unit} must be a whole number from 1 to {cap}, got {n!r}.")
    return add(cal, start_day, n)


def period_json(
    cal: LegalCalendar,
    start: date | str,
    days: int | None = None,
    months: int | None = None,
    working_days: int | None = None,
) -> dict[str, Any]:
    """The period as the API and the CLI print it (dates YYYY-MM-DD, ends_at ISO 8601 with +08:00)."""
    return period_read(compute_period(cal, start, days, months, working_days)).model_dump(mode="json")


def period_read(period: Period) -> PeriodRead:
    return PeriodRead(
        start=period.start,
        deadline=period.deadline,
        ends_at=period.ends_at,
        provisional=period.provisional,
        skipped=list(period.skipped),
        rule=period.rule,
    )


def _start_date(start: date | str) -> date:
    if isinstance(start, str):
        day = parse_iso_date(start)
    else:  # a datetime is a date too, but a period starts on a day, not an instant
        day = start if isinstance(start, date) and not isinstance(start, datetime) else None
    if day is None:
        raise InvalidInput(f"start: {start!r} is not a calendar date written YYYY-MM-DD.")
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise InvalidInput(f"start must lie between {MIN_YEAR}-01-01 and {MAX_YEAR}-12-31, got {day}.")
    return day
