"""Period arithmetic on the official calendar (Civil Code arts. 201–203; Civil Procedure Law art. 85)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from command_center.calendar.periods import (
    RULE_DAYS,
    RULE_MONTHS,
    RULE_WORKING_DAYS,
    add_days,
    add_months,
    add_working_days,
)
from command_center.calendar.schedule import LegalCalendar


def d(text: str) -> date:
    return date.fromisoformat(text)


def days_between(first: str, last: str) -> tuple[date, ...]:
    a, b = d(first), d(last)
    return tuple(a + timedelta(days=i) for i in range((b - a).days + 1))


# --- days -------------------------------------------------------------------------------------------


def test_start_day_is_not_counted(package_calendar: LegalCalendar) -> None:
    period = add_days(package_calendar, d("2026-03-02"), 7)  # a Monday; 7 days later is Monday again
    assert period.deadline == d("2026-03-09")
    assert period.skipped == ()
    assert period.rule == RULE_DAYS


def test_period_ending_on_a_weekend_moves_to_monday(package_calendar: LegalCalendar) -> None:
    period = add_days(package_calendar, d("2026-03-02"), 5)  # Saturday 2026-03-07
    assert period.deadline == d("2026-03-09")
    assert period.skipped == (d("2026-03-07"), d("2026-03-08"))


def test_period_ending_in_spring_festival_2026_moves_past_the_whole_holiday(
    package_calendar: LegalCalendar,
) -> None:
    period = add_days(package_calendar, d("2026-02-10"), 7)  # raw end Tue 2026-02-17, inside Feb 15–23
    assert period.deadline == d("2026-02-24")
    assert period.skipped == days_between("2026-02-17", "2026-02-23")
    assert not period.provisional


def test_spring_festival_2026_holiday_weekdays_are_rest_days(package_calendar: LegalCalendar) -> None:
    assert all(package_calendar.is_rest_day(day) for day in days_between("2026-02-15", "2026-02-23"))
    assert package_calendar.holiday_name(d("2026-02-17")) == "春节"


@pytest.mark.parametrize("swapped", ["2026-02-14", "2026-02-28"])
def test_period_ending_on_a_swapped_working_saturday_ends_that_day(
    package_calendar: LegalCalendar, swapped: str
) -> None:
    assert d(swapped).weekday() == 5
    period = add_days(package_calendar, d(swapped) - timedelta(days=7), 7)
    assert period.deadline == d(swapped)
    assert period.skipped == ()


@pytest.mark.parametrize("swapped", ["2025-09-28", "2026-09-20", "2026-01-04"])
def test_period_ending_on_a_swapped_working_sunday_ends_that_day(
    package_calendar: LegalCalendar, swapped: str
) -> None:
    assert d(swapped).weekday() == 6
    period = add_days(package_calendar, d(swapped) - timedelta(days=15), 15)
    assert period.deadline == d(swapped)
    assert period.skipped == ()


def test_period_ending_in_national_day_2025_moves_to_october_9(package_calendar: LegalCalendar) -> None:
    period = add_days(package_calendar, d("2025-09-16"), 15)  # raw end 2025-10-01; holiday Oct 1–8
    assert period.deadline == d("2025-10-09")
    assert period.skipped == days_between("2025-10-01", "2025-10-08")


def test_period_ending_in_national_day_2026_moves_to_october_8(package_calendar: LegalCalendar) -> None:
    period = add_days(package_calendar, d("2026-09-16"), 15)  # raw end 2026-10-01; holiday Oct 1–7
    assert period.deadline == d("2026-10-08")
    assert period.skipped == days_between("2026-10-01", "2026-10-07")


def test_period_ends_at_midnight_shanghai_after_the_deadline_day(package_calendar: LegalCalendar) -> None:
    period = add_days(package_calendar, d("2026-02-10"), 7)
    assert period.ends_at.isoformat() == "2026-02-25T00:00:00+08:00"
    assert period.ends_at.utcoffset() == timedelta(hours=8)
    assert not period.has_ended(datetime.fromisoformat("2026-02-24T23:59:59.999999+08:00"))
    assert period.has_ended(datetime.fromisoformat("2026-02-24T16:00:00+00:00"))


# --- months -----------------------------------------------------------------------------------------


def test_month_period_ends_on_the_corresponding_day(package_calendar: LegalCalendar) -> None:
    period = add_months(package_calendar, d("2026-03-16"), 1)
    assert period.deadline == d("2026-04-16")
    assert period.rule == RULE_MONTHS


def test_january_31_plus_one_month_ends_on_the_last_day_of_february(package_calendar: LegalCalendar) -> None:
    assert add_months(package_calendar, d("2025-01-31"), 1).deadline == d("2025-02-28")  # a Friday


def test_month_end_on_a_swapped_working_saturday_is_kept(package_calendar: LegalCalendar) -> None:
    period = add_months(package_calendar, d("2026-01-31"), 1)  # Feb 28 2026 is a working Saturday
    assert period.deadline == d("2026-02-28")
    assert period.skipped == ()


def test_month_end_in_february_2027_falling_on_sunday_moves_to_monday(
    package_calendar: LegalCalendar,
) -> None:
    period = add_months(package_calendar, d("2027-01-31"), 1)
    assert period.skipped == (d("2027-02-28"),)  # the last day of February is the raw end
    assert period.deadline == d("2027-03-01")


def test_march_31_plus_one_month_ends_on_april_30(package_calendar: LegalCalendar) -> None:
    assert add_months(package_calendar, d("2026-03-31"), 1).deadline == d("2026-04-30")


@pytest.mark.parametrize(("start", "end"), [("2024-01-31", "2024-02-29"), ("2028-01-31", "2028-02-29")])
def test_leap_year_february_has_a_29th(package_calendar: LegalCalendar, start: str, end: str) -> None:
    assert add_months(package_calendar, d(start), 1).deadline == d(end)


def test_twelve_months_from_february_29_ends_on_february_28(package_calendar: LegalCalendar) -> None:
    assert add_months(package_calendar, d("2024-02-29"), 12).deadline == d("2025-02-28")


def test_six_month_case_clock_crosses_the_year_end(package_calendar: LegalCalendar) -> None:
    # Aug 31 + 6 months → Feb 28 2026, an officially swapped working Saturday: the clock ends that day.
    period = add_months(package_calendar, d("2025-08-31"), 6)
    assert period.deadline == d("2026-02-28")
    period = add_months(package_calendar, d("2025-08-15"), 6)  # Feb 15 2026: Spring Festival
    assert period.deadline == d("2026-02-24")
    assert period.skipped == days_between("2026-02-15", "2026-02-23")


# --- working days -----------------------------------------------------------------------------------


def test_working_days_skip_weekends(package_calendar: LegalCalendar) -> None:
    period = add_working_days(package_calendar, d("2026-03-06"), 1)  # Friday → next Monday
    assert period.deadline == d("2026-03-09")
    assert period.rule == RULE_WORKING_DAYS
    assert period.skipped == ()


def test_working_days_across_national_day_count_the_swapped_saturday(
    package_calendar: LegalCalendar,
) -> None:
    # Oct 1–7 2026 off; Thu 8 and Fri 9 are working days, and so is the swapped Saturday Oct 10.
    assert add_working_days(package_calendar, d("2026-09-30"), 3).deadline == d("2026-10-10")


def test_working_days_across_spring_festival_2026(package_calendar: LegalCalendar) -> None:
    # Fri Feb 13 → Sat Feb 14 (swapped, 1), holiday Feb 15–23, then Feb 24–27 (2–5).
    assert add_working_days(package_calendar, d("2026-02-13"), 5).deadline == d("2026-02-27")


# --- provisional periods ----------------------------------------------------------------------------


def test_period_in_a_year_without_a_schedule_is_provisional(package_calendar: LegalCalendar) -> None:
    period = add_days(package_calendar, d("2030-03-01"), 10)
    assert period.deadline == d("2030-03-11")
    assert period.provisional


def test_period_within_an_official_year_is_not_provisional(package_calendar: LegalCalendar) -> None:
    assert not add_days(package_calendar, d("2026-11-01"), 30).provisional


def test_period_running_into_an_unscheduled_year_is_provisional(package_calendar: LegalCalendar) -> None:
    period = add_days(package_calendar, d("2026-12-20"), 20)  # Sat 2027-01-09 → Mon 2027-01-11
    assert period.deadline == d("2027-01-11")
    assert period.provisional


def test_working_days_passing_through_an_unscheduled_year_are_provisional(
    package_calendar: LegalCalendar,
) -> None:
    assert add_working_days(package_calendar, d("2026-12-28"), 5).provisional
    assert not add_working_days(package_calendar, d("2026-12-20"), 5).provisional


def test_a_loaded_2027_schedule_removes_the_provisional_flag_and_moves_the_deadline(
    package_calendar: LegalCalendar, calendar_with_2027: LegalCalendar
) -> None:
    before = add_days(package_calendar, d("2027-01-28"), 10)  # Sun 2027-02-07
    after = add_days(calendar_with_2027, d("2027-01-28"), 10)
    assert (before.deadline, before.provisional) == (d("2027-02-08"), True)
    assert (after.deadline, after.provisional) == (d("2027-02-15"), False)  # past Feb 5–13 and Sun 14
    assert after.skipped == days_between("2027-02-07", "2027-02-14")


def test_a_loaded_swapped_working_saturday_ends_a_period(calendar_with_2027: LegalCalendar) -> None:
    assert add_days(calendar_with_2027, d("2027-02-10"), 10).deadline == d("2027-02-20")


@pytest.mark.parametrize("add", [add_days, add_months, add_working_days])
@pytest.mark.parametrize("n", [0, -1])
def test_a_period_has_at_least_one_unit(package_calendar: LegalCalendar, add: object, n: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        add(package_calendar, d("2026-03-02"), n)  # type: ignore[operator]
