"""Period arithmetic of Chinese civil law: when a period in days, months or working days ends.

The rules (DESIGN.md §3):

* Civil Code art. 201 (民法典第二百零一条) and Civil Procedure Law art. 85 para. 2 (民事诉讼法第八十五条,
  2023 text; art. 82 before the 2021 amendment): the day a period starts is not counted; counting begins
  the next day, so a period of N days ends N days after the start.
* Civil Code art. 202: a period in months (or years) ends on the corresponding day of the final month;
  when that month has no such day, on its last day (Jan 31 + 1 month → Feb 28, or Feb 29 in a leap year).
* Civil Code art. 203 para. 1 and Civil Procedure Law art. 85 para. 3: when the last day is a statutory
  rest day (a public holiday, or a weekend day not swapped into a working day), the period ends on the
  first working day after it.
* Civil Code art. 203 para. 2: the last day ends at 24:00. The business-hours cut-off that article allows
  does not apply to a court's commissioned work, so it is not modelled.

Working-day periods (used for internal handling deadlines) count only working days, again without the
start day; their last day is a working day by construction, so nothing is ever skipped.

`Period.ends_at` is the instant the period is over, written as the **next day's 00:00 Asia/Shanghai**
(24:00 of the deadline day, e.g. deadline 2026-02-24 → ends_at 2026-02-25T00:00:00+08:00). It is an
exclusive bound: an act done at any instant strictly before `ends_at` is in time.

A period is `provisional` when any day the computation had to classify (for days and months: from the
raw end date to the deadline; for working days: every day after the start up to the deadline) lies in a
year without an official schedule; such days were judged by weekends alone.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from command_center.calendar.schedule import LegalCalendar


def _shanghai() -> timezone | ZoneInfo:
    try:
        return ZoneInfo("Asia/Shanghai")
    except ZoneInfoNotFoundError:  # no tz database installed; China has kept +08:00 without DST since 1991
        return timezone(timedelta(hours=8), "Asia/Shanghai")


SHANGHAI = _shanghai()
ONE_DAY = timedelta(days=1)

RULE_DAYS = "Civil Code arts. 201, 203; Civil Procedure Law art. 85"
RULE_MONTHS = "Civil Code arts. 201-203; Civil Procedure Law art. 85"
RULE_WORKING_DAYS = "Civil Code art. 201; working days only"


@dataclass(frozen=True, slots=True)
class Period:
    """A computed period: its last day, the instant it is over, and how that was reached."""

    start: date
    deadline: date  # the last day of the period, always a working day
    ends_at: datetime  # 24:00 of `deadline`, i.e. the next day's 00:00 Asia/Shanghai (exclusive)
    provisional: bool  # some day was judged without an official schedule
    skipped: tuple[date, ...]  # rest days the end moved past (Civil Code art. 203), oldest first
    rule: str  # short citation of the rule applied

    def has_ended(self, at: datetime) -> bool:
        """True once `at` (timezone-aware) is at or after 24:00 of the deadline day."""
        return at >= self.ends_at


def add_days(cal: LegalCalendar, start: date, n: int) -> Period:
    """The period of `n` days that starts on `start` (which is not counted)."""
    _require_positive(n, "days")
    return _ending_on(cal, start, start + timedelta(days=n), RULE_DAYS)


def add_months(cal: LegalCalendar, start: date, n: int) -> Period:
    """The period of `n` months that starts on `start` (which is not counted)."""
    _require_positive(n, "months")
    year, month0 = divmod(start.year * 12 + start.month - 1 + n, 12)
    month = month0 + 1
    # Civil Code art. 202: the corresponding day of the final month, else that month's last day.
    day = min(start.day, calendar.monthrange(year, month)[1])
    return _ending_on(cal, start, date(year, month, day), RULE_MONTHS)


def add_working_days(cal: LegalCalendar, start: date, n: int) -> Period:
    """The period of `n` working days that starts on `start` (which is not counted)."""
    _require_positive(n, "working_days")
    day, counted = start, 0
    while counted < n:
        day += ONE_DAY
        if not cal.is_rest_day(day):
            counted += 1
    provisional = _touches_unofficial_year(cal, start + ONE_DAY, day)
    return Period(start, day, _end_instant(day), provisional, (), RULE_WORKING_DAYS)


def _ending_on(cal: LegalCalendar, start: date, raw_end: date, rule: str) -> Period:
    # Civil Code art. 203 / Civil Procedure Law art. 85: a last day that is a rest day moves to the
    # first working day after it; an officially swapped working Saturday or Sunday is not a rest day.
    skipped: list[date] = []
    deadline = raw_end
    while cal.is_rest_day(deadline):
        skipped.append(deadline)
        deadline += ONE_DAY
    provisional = _touches_unofficial_year(cal, raw_end, deadline)
    return Period(start, deadline, _end_instant(deadline), provisional, tuple(skipped), rule)


def _end_instant(deadline: date) -> datetime:
    # Civil Code art. 203 para. 2: the last day ends at 24:00, which is the next day's 00:00.
    return datetime.combine(deadline + ONE_DAY, time(0), tzinfo=SHANGHAI)


def _touches_unofficial_year(cal: LegalCalendar, first: date, last: date) -> bool:
    return any(not cal.is_official_year(year) for year in range(first.year, last.year + 1))


def _require_positive(n: int, unit: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{unit} must be a whole number of at least 1, got {n!r}")
