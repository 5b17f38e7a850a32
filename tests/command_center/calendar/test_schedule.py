"""The official rest-day calendar: the package's schedule, loaded years, and the schedule file format."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import chinese_calendar
import pytest

from command_center.calendar.schedule import LegalCalendar, YearSchedule, parse_year_schedule
from command_center.errors import InvalidInput


def d(text: str) -> date:
    return date.fromisoformat(text)


def test_package_years_are_official_and_later_years_are_not(package_calendar: LegalCalendar) -> None:
    assert package_calendar.is_official_year(2004)
    assert package_calendar.is_official_year(2026)
    assert not package_calendar.is_official_year(2027)
    assert not package_calendar.is_official_year(2030)
    assert package_calendar.package_version == chinese_calendar.__version__
    assert package_calendar.source(2026) == f"chinesecalendar {chinese_calendar.__version__}"


def test_calendar_agrees_with_the_package_on_every_day_it_covers(package_calendar: LegalCalendar) -> None:
    day, end = d("2004-01-01"), d("2026-12-31")
    while day <= end:
        assert package_calendar.is_rest_day(day) == chinese_calendar.is_holiday(day), day
        day = date.fromordinal(day.toordinal() + 1)


def test_swapped_working_weekend_days_are_not_rest_days(package_calendar: LegalCalendar) -> None:
    for swapped in ("2026-02-14", "2026-02-28", "2025-09-28", "2025-10-11"):
        assert package_calendar.is_working_day(d(swapped))
        assert package_calendar.swapped_workday_name(d(swapped)) is not None


def test_a_year_without_a_schedule_rests_on_weekends_only(package_calendar: LegalCalendar) -> None:
    assert package_calendar.is_working_day(d("2030-01-01"))  # New Year's Day, but no schedule for 2030
    assert package_calendar.is_rest_day(d("2030-01-05"))  # Saturday
    assert package_calendar.is_rest_day(d("2030-01-06"))  # Sunday


def test_a_loaded_year_replaces_the_package_schedule_for_that_year(package_calendar: LegalCalendar) -> None:
    corrected = YearSchedule(2026, {d("2026-01-01"): "元旦"}, {}, "a corrected notice")
    cal = package_calendar.with_year(corrected)
    assert cal.is_working_day(d("2026-02-16"))  # the package's Spring Festival is gone
    assert cal.is_rest_day(d("2026-02-14"))  # and so is its swapped working Saturday
    assert cal.source(2026) == "a corrected notice"
    assert cal.is_rest_day(d("2025-10-01"))  # other years keep the package's schedule
    assert package_calendar.is_rest_day(d("2026-02-16"))  # the original calendar is unchanged


def test_a_loaded_year_makes_that_year_official(
    package_calendar: LegalCalendar, calendar_with_2027: LegalCalendar
) -> None:
    assert calendar_with_2027.is_official_year(2027)
    assert calendar_with_2027.is_rest_day(d("2027-02-09"))  # a Tuesday in the fixture's Spring Festival
    assert calendar_with_2027.is_working_day(d("2027-02-20"))  # the fixture's swapped Saturday
    assert calendar_with_2027.official_years == package_calendar.official_years | {2027}


def test_from_package_lets_loaded_years_take_precedence(schedule_2027_data: dict[str, Any]) -> None:
    corrected = YearSchedule(2026, {d("2026-01-01"): "元旦"}, {}, "a corrected notice")
    cal = LegalCalendar.from_package([parse_year_schedule(schedule_2027_data), corrected])
    assert cal.is_official_year(2027)
    assert cal.is_working_day(d("2026-02-16"))


def test_a_schedule_file_is_parsed_into_dates_and_names(schedule_2027_data: dict[str, Any]) -> None:
    schedule = parse_year_schedule(schedule_2027_data)
    assert schedule.year == 2027
    assert schedule.holidays[d("2027-02-06")] == "春节"
    assert schedule.workdays == {d("2027-02-20"): "春节", d("2027-09-26"): "国庆节", d("2027-10-09"): "国庆节"}
    assert schedule.source.startswith("Test fixture")


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_year_schedule(data)
    assert caught.value.message.startswith("Invalid calendar file: ")
    return caught.value.details


def _edited(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    out.update(changes)
    return out


def test_a_date_outside_the_year_is_rejected(schedule_2027_data: dict[str, Any]) -> None:
    data = copy.deepcopy(schedule_2027_data)
    data["holidays"]["2026-12-31"] = "元旦"
    assert _problems(data) == ["holidays: 2026-12-31 is not in 2027"]


def test_a_date_both_holiday_and_working_day_is_rejected(schedule_2027_data: dict[str, Any]) -> None:
    data = copy.deepcopy(schedule_2027_data)
    data["workdays"]["2027-02-06"] = "春节"  # a Saturday that is also a holiday
    assert _problems(data) == ["2027-02-06 is listed both as a holiday and as a working day"]


def test_a_swapped_working_day_must_be_a_weekend_day(schedule_2027_data: dict[str, Any]) -> None:
    data = copy.deepcopy(schedule_2027_data)
    data["workdays"]["2027-02-17"] = "春节"
    assert _problems(data) == ["workdays: 2027-02-17 is a Wednesday, not a weekend day"]


def test_malformed_dates_and_names_are_rejected(schedule_2027_data: dict[str, Any]) -> None:
    data = copy.deepcopy(schedule_2027_data)
    data["holidays"].update({"2027-02-30": "春节", "20270301": "春节", "2027-03-02": ""})
    assert _problems(data) == [
        "holidays: '2027-02-30' is not a date written YYYY-MM-DD",
        "holidays: '20270301' is not a date written YYYY-MM-DD",
        "holidays: 2027-03-02 needs a name (1 to 100 characters)",
    ]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"year": "2027"}, "year must be a whole number between 1950 and 2199, got '2027'"),
        ({"year": 10000}, "year must be a whole number between 1950 and 2199, got 10000"),
        ({"source": " "}, "source must name the notice that announced the schedule (1 to 500 characters)"),
        ({"holidays": {}}, "holidays is empty; every year has at least New Year's Day"),
        ({"workdays": ["2027-02-20"]}, 'workdays must map "YYYY-MM-DD" dates to names'),
        ({"notice": "x"}, "unknown keys: notice"),
    ],
)
def test_invalid_schedule_files_name_the_problem(
    schedule_2027_data: dict[str, Any], changes: dict[str, Any], problem: str
) -> None:
    assert _problems(_edited(schedule_2027_data, **changes)) == [problem]


def test_a_missing_key_is_reported(schedule_2027_data: dict[str, Any]) -> None:
    data = copy.deepcopy(schedule_2027_data)
    del data["workdays"]
    assert _problems(data) == ["workdays is missing (use {} when there are none)"]


def test_a_schedule_file_must_be_an_object() -> None:
    with pytest.raises(InvalidInput, match="one JSON object"):
        parse_year_schedule([2027])
