"""China's official rest-day schedule: which days are statutory rest days, year by year.

A day is a statutory rest day (法定休假日) when it is a public holiday announced by the State Council
(《全国年节及纪念日放假办法》 and the yearly 国务院办公厅关于部分节假日安排的通知), or when it is a Saturday
or Sunday (国务院关于职工工作时间的规定, art. 7) that the notice has not swapped into a working day
(调休上班). Civil Code art. 203 and Civil Procedure Law art. 85 move a period's last day off such days.

The schedule comes from two places:

* the `chinesecalendar` package (import name `chinese_calendar`), whose generated tables
  `holidays` and `workdays` list every official holiday and swapped working day; it covers the years
  from its first to its last table entry (2004–2026 in version 1.11.0);
* years an administrator loaded from a JSON file (`command-center load-calendar FILE`), stored in the
  `calendar_year` table; a loaded year replaces the package's data for that whole year.

The file format of a loaded year::

    {
      "year": 2027,
      "holidays": {"2027-01-01": "元旦", "2027-02-06": "春节", ...},
      "workdays": {"2027-02-20": "春节", ...},
      "source": "国务院办公厅关于2027年部分节假日安排的通知"
    }

`holidays` maps every day off (weekend days inside a holiday block included) to the holiday's name;
`workdays` maps every Saturday or Sunday the notice turns into a working day to the holiday it pays
for; `source` names the notice. Every date is written YYYY-MM-DD and lies inside `year`; no date is
both a holiday and a working day; every swapped working day is a Saturday or a Sunday. No other keys
are accepted.

A year with no schedule from either place falls back to "weekends are rest days"; periods that depend
on such a year are marked provisional (see `periods.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import chinese_calendar

from command_center.errors import InvalidInput

PACKAGE_VERSION: str = chinese_calendar.__version__
MIN_YEAR, MAX_YEAR = 1950, 2199  # the years a schedule file may describe
MAX_HOLIDAYS, MAX_WORKDAYS = 60, 20  # far above any notice so far; catches a wrong file, not a real one
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SATURDAY = 5


@dataclass(frozen=True, slots=True)
class YearSchedule:
    """One year's official holidays and swapped working days, and where they were announced."""

    year: int
    holidays: Mapping[date, str]
    workdays: Mapping[date, str]
    source: str


class LegalCalendar:
    """An immutable, in-memory rest-day calendar; every lookup is a set or dict probe."""

    __slots__ = ("_holidays", "_workdays", "_sources", "package_version")

    def __init__(self, schedules: Iterable[YearSchedule], *, package_version: str = PACKAGE_VERSION) -> None:
        holidays: dict[date, str] = {}
        workdays: dict[date, str] = {}
        sources: dict[int, str] = {}
        for schedule in schedules:  # a later schedule for the same year replaces an earlier one
            if any(d.year != schedule.year for d in (*schedule.holidays, *schedule.workdays)):
                raise ValueError(f"the {schedule.year} schedule lists dates outside {schedule.year}")
            if schedule.year in sources:
                _drop_year(holidays, schedule.year)
                _drop_year(workdays, schedule.year)
            holidays.update(schedule.holidays)
            workdays.update(schedule.workdays)
            sources[schedule.year] = schedule.source
        self._holidays = MappingProxyType(holidays)
        self._workdays = MappingProxyType(workdays)
        self._sources = MappingProxyType(dict(sorted(sources.items())))
        self.package_version = package_version

    @classmethod
    def from_package(cls, loaded: Iterable[YearSchedule] = ()) -> LegalCalendar:
        """The package's schedule, with each loaded year replacing the package's data for that year."""
        return cls([*package_schedules(), *loaded])

    def with_year(self, schedule: YearSchedule) -> LegalCalendar:
        """A new calendar in which `schedule` replaces whatever this one knew about its year."""
        return LegalCalendar([*self.schedules(), schedule], package_version=self.package_version)

    def schedules(self) -> list[YearSchedule]:
        """This calendar's official years, one schedule each."""
        by_year: dict[int, tuple[dict[date, str], dict[date, str]]] = {y: ({}, {}) for y in self._sources}
        for day, name in self._holidays.items():
            by_year[day.year][0][day] = name
        for day, name in self._workdays.items():
            by_year[day.year][1][day] = name
        return [YearSchedule(y, h, w, self._sources[y]) for y, (h, w) in by_year.items()]

    @property
    def official_years(self) -> frozenset[int]:
        return frozenset(self._sources)

    def is_official_year(self, year: int) -> bool:
        return year in self._sources

    def source(self, year: int) -> str | None:
        """The notice (or package) that announced `year`'s schedule; None when there is none."""
        return self._sources.get(year)

    def is_rest_day(self, day: date) -> bool:
        # A holiday is a rest day even on a weekday; a weekend day is one unless swapped into work.
        # In a year without a schedule both tables are empty there, so only weekends count.
        if day in self._holidays:
            return True
        return day.weekday() >= _SATURDAY and day not in self._workdays

    def is_working_day(self, day: date) -> bool:
        return not self.is_rest_day(day)

    def holiday_name(self, day: date) -> str | None:
        return self._holidays.get(day)

    def swapped_workday_name(self, day: date) -> str | None:
        return self._workdays.get(day)

    def __repr__(self) -> str:
        years = sorted(self._sources)
        span = f"{years[0]}–{years[-1]}" if years else "none"
        return f"<LegalCalendar official years {span} ({len(years)}), chinesecalendar {self.package_version}>"


def _drop_year(table: dict[date, str], year: int) -> None:
    for day in [d for d in table if d.year == year]:
        del table[day]


@lru_cache(maxsize=1)
def package_schedules() -> tuple[YearSchedule, ...]:
    """The package's tables split by year, read once (not through its per-day functions)."""
    chinese = {h.value: h.chinese for h in chinese_calendar.Holiday}
    first = min(chinese_calendar.holidays).year
    last = max(chinese_calendar.holidays).year
    holidays: dict[int, dict[date, str]] = {y: {} for y in range(first, last + 1)}
    workdays: dict[int, dict[date, str]] = {y: {} for y in range(first, last + 1)}
    for table, out in ((chinese_calendar.holidays, holidays), (chinese_calendar.workdays, workdays)):
        for day, name in table.items():
            out[day.year][day] = chinese.get(name, name)
    source = f"chinesecalendar {PACKAGE_VERSION}"
    return tuple(
        YearSchedule(y, MappingProxyType(holidays[y]), MappingProxyType(workdays[y]), source)
        for y in range(first, last + 1)
    )


def parse_year_schedule(data: Any) -> YearSchedule:
    """Validates one year's schedule in the file format above; raises InvalidInput listing every problem."""
    if not isinstance(data, dict):
        raise InvalidInput("A calendar file must hold one JSON object with year, holidays, workdays, source.")
    problems: list[str] = []
    unknown = sorted(set(data) - {"year", "holidays", "workdays", "source"})
    if unknown:
        problems.append(f"unknown keys: {', '.join(unknown)}")
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not MIN_YEAR <= year <= MAX_YEAR:
        problems.append(f"year must be a whole number between {MIN_YEAR} and {MAX_YEAR}, got {year!r}")
        year = None
    source = data.get("source")
    if not isinstance(source, str) or not source.strip() or len(source) > 500:
        problems.append("source must name the notice that announced the schedule (1 to 500 characters)")
    holidays = _parse_days(data.get("holidays"), "holidays", year, problems)
    workdays = _parse_days(data.get("workdays"), "workdays", year, problems)
    if not holidays and "holidays" in data and not any(p.startswith("holidays") for p in problems):
        problems.append("holidays is empty; every year has at least New Year's Day")
    if len(holidays) > MAX_HOLIDAYS:
        problems.append(f"holidays lists {len(holidays)} days; no notice has more than {MAX_HOLIDAYS}")
    if len(workdays) > MAX_WORKDAYS:
        problems.append(f"workdays lists {len(workdays)} days; no notice has more than {MAX_WORKDAYS}")
    for day in sorted(holidays.keys() & workdays.keys()):
        problems.append(f"{day.isoformat()} is listed both as a holiday and as a working day")
    for day in sorted(workdays):
        if day.weekday() < _SATURDAY:
            # A swapped working day (调休上班) is always a Saturday or Sunday; a weekday is one already.
            problems.append(f"workdays: {day.isoformat()} is a {day.strftime('%A')}, not a weekend day")
    if problems:
        raise InvalidInput(f"Invalid calendar file: {problems[0]}.", details=problems)
    assert year is not None and isinstance(source, str)
    return YearSchedule(year, holidays, workdays, source.strip())


def _parse_days(raw: Any, key: str, year: int | None, problems: list[str]) -> dict[date, str]:
    if raw is None:
        problems.append(f"{key} is missing (use {{}} when there are none)")
        return {}
    if not isinstance(raw, dict):
        problems.append(f'{key} must map "YYYY-MM-DD" dates to names')
        return {}
    days: dict[date, str] = {}
    for text, name in raw.items():
        day = parse_iso_date(text) if isinstance(text, str) else None
        if day is None:
            problems.append(f"{key}: {text!r} is not a date written YYYY-MM-DD")
            continue
        if year is not None and day.year != year:
            problems.append(f"{key}: {text} is not in {year}")
            continue
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            problems.append(f"{key}: {text} needs a name (1 to 100 characters)")
            continue
        days[day] = name.strip()
    return days


def parse_iso_date(text: str) -> date | None:
    """A YYYY-MM-DD calendar date, or None (also for other ISO forms such as 20270101)."""
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
