"""The legal calendar: China's official rest days and the period arithmetic of the Civil Code.

`LegalCalendar` (schedule.py) answers "is this a rest day?" from the `chinesecalendar` package and from
years an administrator loaded; `add_days`, `add_months` and `add_working_days` (periods.py) turn a start
day and a length into a `Period` with its deadline and the instant it ends.
"""

from __future__ import annotations

from command_center.calendar.periods import Period, add_days, add_months, add_working_days
from command_center.calendar.schedule import LegalCalendar, YearSchedule

__all__ = ["LegalCalendar", "Period", "YearSchedule", "add_days", "add_months", "add_working_days"]
