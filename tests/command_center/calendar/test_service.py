"""Loading official years into the database, and computing periods the way the API and the CLI do."""

from __future__ import annotations

import copy
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.calendar.models import CalendarYear
from command_center.calendar.schedule import LegalCalendar
from command_center.calendar.service import (
    compute_period,
    list_calendar_years,
    load_calendar,
    load_calendar_year,
    period_json,
    read_calendar_file,
)
from command_center.errors import InvalidInput

SCHEDULE_2027 = Path(__file__).with_name("schedule_2027.json")

# --- loading years ----------------------------------------------------------------------------------


async def test_a_loaded_year_is_stored_and_used_by_the_calendar(
    session: AsyncSession, schedule_2027_data: dict[str, Any]
) -> None:
    assert not (await load_calendar(session)).is_official_year(2027)
    row = await load_calendar_year(session, data=schedule_2027_data)
    assert row.year == 2027
    assert row.holidays["2027-02-06"] == "春节"
    assert row.workdays == {"2027-02-20": "春节", "2027-09-26": "国庆节", "2027-10-09": "国庆节"}

    session.expunge_all()  # read back what the database holds, not the objects in memory
    calendar = await load_calendar(session)
    assert calendar.is_official_year(2027)
    assert calendar.source(2027) == schedule_2027_data["source"]
    period = period_json(calendar, "2027-01-28", days=10)
    assert (period["deadline"], period["provisional"]) == ("2027-02-15", False)


async def test_loading_a_year_again_replaces_the_earlier_load(
    session: AsyncSession, schedule_2027_data: dict[str, Any]
) -> None:
    await load_calendar_year(session, data=schedule_2027_data)
    corrected = copy.deepcopy(schedule_2027_data)
    corrected["holidays"] = {"2027-01-01": "元旦"}
    corrected["workdays"] = {}
    corrected["source"] = "a corrected notice"
    await load_calendar_year(session, data=corrected)

    session.expunge_all()
    [row] = [r for r in await list_calendar_years(session) if r.year == 2027]
    assert (row.holidays, row.workdays, row.source) == ({"2027-01-01": "元旦"}, {}, "a corrected notice")
    calendar = await load_calendar(session)
    assert calendar.is_working_day(date(2027, 2, 9))  # the earlier Spring Festival is gone


async def test_a_loaded_year_overrides_the_package_for_that_year(session: AsyncSession) -> None:
    data = {"year": 2026, "holidays": {"2026-01-01": "元旦"}, "workdays": {}, "source": "a corrected notice"}
    await load_calendar_year(session, data=data)
    calendar = await load_calendar(session)
    assert calendar.is_working_day(date(2026, 2, 17))
    assert calendar.is_rest_day(date(2025, 10, 1))


async def test_an_invalid_schedule_is_not_stored(
    session: AsyncSession, schedule_2027_data: dict[str, Any]
) -> None:
    data = copy.deepcopy(schedule_2027_data)
    data["workdays"]["2027-02-17"] = "春节"  # a Wednesday
    with pytest.raises(InvalidInput, match="2027-02-17 is a Wednesday"):
        await load_calendar_year(session, data=data)
    assert await session.get(CalendarYear, 2027) is None


def test_a_schedule_file_is_read_as_a_dict(schedule_2027_data: dict[str, Any]) -> None:
    assert read_calendar_file(SCHEDULE_2027) == schedule_2027_data


def test_unreadable_schedule_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="Cannot read"):
        read_calendar_file(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"year": 2027,', encoding="utf-8")
    with pytest.raises(InvalidInput, match="is not UTF-8 JSON"):
        read_calendar_file(broken)
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([2027]), encoding="utf-8")
    with pytest.raises(InvalidInput, match="one JSON object"):
        read_calendar_file(listed)


# --- computing periods on request -------------------------------------------------------------------


def test_period_json_is_what_the_api_and_the_cli_print(package_calendar: LegalCalendar) -> None:
    assert period_json(package_calendar, "2026-02-10", days=7) == {
        "start": "2026-02-10",
        "deadline": "2026-02-24",
        "ends_at": "2026-02-25T00:00:00+08:00",
        "provisional": False,
        "skipped": [f"2026-02-{day}" for day in range(17, 24)],
        "rule": "Civil Code arts. 201, 203; Civil Procedure Law art. 85",
    }


def test_period_json_accepts_a_date_object(package_calendar: LegalCalendar) -> None:
    result = period_json(package_calendar, date(2026, 1, 31), months=1)
    assert (result["deadline"], result["skipped"]) == ("2026-02-28", [])
    assert period_json(package_calendar, "2026-09-30", working_days=3)["deadline"] == "2026-10-10"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "Give exactly one of days, months or working_days (got none)."),
        ({"days": 7, "months": 1}, "Give exactly one of days, months or working_days (got days and months)."),
        ({"days": 0}, "days must be a whole number from 1 to 3650, got 0."),
        ({"months": 121}, "months must be a whole number from 1 to 120, got 121."),
        ({"working_days": -3}, "working_days must be a whole number from 1 to 2500, got -3."),
        ({"days": True}, "days must be a whole number from 1 to 3650, got True."),
    ],
)
def test_a_period_needs_exactly_one_unit_in_range(
    package_calendar: LegalCalendar, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        compute_period(package_calendar, "2026-03-02", **kwargs)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("2026-02-30", "start: '2026-02-30' is not a calendar date written YYYY-MM-DD."),
        ("20260301", "start: '20260301' is not a calendar date written YYYY-MM-DD."),
        (datetime(2026, 3, 1, 9), "is not a calendar date written YYYY-MM-DD."),
        ("9999-12-31", "start must lie between 1950-01-01 and 2199-12-31, got 9999-12-31."),
    ],
)
def test_a_period_needs_a_calendar_start_date(
    package_calendar: LegalCalendar, start: Any, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        compute_period(package_calendar, start, days=7)
    assert caught.value.message.endswith(message)


def test_the_longest_periods_allowed_are_computed(package_calendar: LegalCalendar) -> None:
    assert compute_period(package_calendar, "2199-12-31", days=3650).provisional
    assert compute_period(package_calendar, "2199-12-31", months=120).deadline == date(2210, 1, 1)  # Sun → Mon
    assert compute_period(package_calendar, "2199-12-31", working_days=2500).deadline.year == 2209
