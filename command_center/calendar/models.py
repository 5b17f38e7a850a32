"""Loaded holiday schedules, and the request and response schemas of period computations."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from pydantic import Field as SchemaField
from pydantic import field_validator
from sqlmodel import Field, SQLModel

from command_center.api import Schema
from command_center.calendar.schedule import YearSchedule, parse_iso_date
from command_center.db import UtcDateTime

# Caps on a period's length: far beyond any legal clock here, small enough to compute instantly.
MAX_DAYS, MAX_MONTHS, MAX_WORKING_DAYS = 3650, 120, 2500


class CalendarYear(SQLModel, table=True):
    """One year's official schedule loaded by an administrator; it overrides the package's for that year."""

    __tablename__ = "calendar_year"

    year: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    holidays: dict[str, str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))  # "YYYY-MM-DD" -> name
    workdays: dict[str, str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))  # swapped working days
    # The State Council notice that announced the schedule.
    source: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    loaded_at: datetime = Field(sa_column=sa.Column(UtcDateTime(), nullable=False))

    def schedule(self) -> YearSchedule:
        return YearSchedule(
            year=self.year,
            holidays={date.fromisoformat(d): name for d, name in self.holidays.items()},
            workdays={date.fromisoformat(d): name for d, name in self.workdays.items()},
            source=self.source,
        )


class CalendarYearRead(Schema):
    year: int
    holidays: dict[str, str]
    workdays: dict[str, str]
    source: str
    loaded_at: datetime


class PeriodQuery(Schema):
    start: date = SchemaField(description="the day the period starts (not counted), YYYY-MM-DD")
    days: int | None = SchemaField(None, ge=1, le=MAX_DAYS, description="length in calendar days")
    months: int | None = SchemaField(None, ge=1, le=MAX_MONTHS, description="length in months")
    working_days: int | None = SchemaField(
        None, ge=1, le=MAX_WORKING_DAYS, description="length in working days"
    )

    @field_validator("start", mode="before")
    @classmethod
    def _calendar_date(cls, value: object) -> object:
        # Only YYYY-MM-DD: pydantic would otherwise also read Unix timestamps and datetimes as dates.
        if isinstance(value, date):
            return value
        if isinstance(value, str) and parse_iso_date(value) is not None:
            return value
        raise ValueError(f"{value!r} is not a calendar date written YYYY-MM-DD")


class PeriodRead(Schema):
    start: date
    deadline: date = SchemaField(description="the period's last day (a working day)")
    ends_at: datetime = SchemaField(
        description="when the period is over: 24:00 of the deadline day, i.e. the next day's 00:00+08:00"
    )
    provisional: bool = SchemaField(
        description="some day was judged by weekends alone because its year has no official schedule"
    )
    skipped: list[date] = SchemaField(description="rest days the end moved past (Civil Code art. 203)")
    rule: str = SchemaField(description="the rule applied, as a short citation")
