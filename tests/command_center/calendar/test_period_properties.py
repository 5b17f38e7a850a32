"""Properties every computed period has, over starts from 2004 to 2035 (official and unscheduled years)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from command_center.calendar.periods import SHANGHAI, add_days, add_months, add_working_days
from command_center.calendar.schedule import LegalCalendar

CALENDAR = LegalCalendar.from_package()
starts = st.dates(min_value=date(2004, 1, 1), max_value=date(2035, 12, 31))


def _ends_at_midnight_after(period_deadline: date, ends_at: datetime) -> bool:
    return ends_at == datetime.combine(period_deadline + timedelta(days=1), time(0), tzinfo=SHANGHAI)


@given(start=starts, n=st.integers(min_value=1, max_value=400))
def test_a_days_period_ends_on_the_first_working_day_from_start_plus_n(start: date, n: int) -> None:
    period = add_days(CALENDAR, start, n)
    raw_end = start + timedelta(days=n)
    assert period.deadline >= raw_end
    assert CALENDAR.is_working_day(period.deadline)
    # Every day passed over is a rest day, contiguous from the raw end up to the deadline.
    passed_over = (period.deadline - raw_end).days
    assert period.skipped == tuple(raw_end + timedelta(days=i) for i in range(passed_over))
    assert all(CALENDAR.is_rest_day(day) for day in period.skipped)
    if CALENDAR.is_working_day(raw_end):
        assert period.deadline == raw_end and period.skipped == ()
    assert _ends_at_midnight_after(period.deadline, period.ends_at)
    assert period.provisional == any(
        not CALENDAR.is_official_year(y) for y in range(raw_end.year, period.deadline.year + 1)
    )


@given(start=starts, n=st.integers(min_value=1, max_value=120))
def test_a_months_period_ends_no_earlier_than_the_corresponding_day(start: date, n: int) -> None:
    period = add_months(CALENDAR, start, n)
    raw_end = period.skipped[0] if period.skipped else period.deadline
    months = (raw_end.year - start.year) * 12 + raw_end.month - start.month
    assert months == n
    # The corresponding day, or the last day of a month that has none (Civil Code art. 202).
    assert raw_end.day == start.day or (raw_end.day < start.day and (raw_end + timedelta(days=1)).day == 1)
    assert CALENDAR.is_working_day(period.deadline)
    assert all(CALENDAR.is_rest_day(day) for day in period.skipped)
    assert _ends_at_midnight_after(period.deadline, period.ends_at)


@given(start=starts, n=st.integers(min_value=1, max_value=60))
def test_a_working_days_period_counts_exactly_n_working_days(start: date, n: int) -> None:
    period = add_working_days(CALENDAR, start, n)
    assert period.deadline >= start + timedelta(days=n)
    assert CALENDAR.is_working_day(period.deadline)
    span = (period.deadline - start).days
    counted = sum(CALENDAR.is_working_day(start + timedelta(days=i)) for i in range(1, span + 1))
    assert counted == n
    assert period.skipped == ()
    assert _ends_at_midnight_after(period.deadline, period.ends_at)
