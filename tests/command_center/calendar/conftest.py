"""Fixtures for the legal calendar: the package's calendar and a made-up 2027 schedule file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from command_center.calendar.schedule import LegalCalendar, parse_year_schedule

SCHEDULE_2027 = Path(__file__).with_name("schedule_2027.json")


@pytest.fixture(scope="session")
def package_calendar() -> LegalCalendar:
    """The package's official schedule alone (2004–2026), with no loaded years."""
    return LegalCalendar.from_package()


@pytest.fixture
def schedule_2027_data() -> dict[str, Any]:
    return json.loads(SCHEDULE_2027.read_text(encoding="utf-8"))


@pytest.fixture
def calendar_with_2027(package_calendar: LegalCalendar, schedule_2027_data: dict[str, Any]) -> LegalCalendar:
    return package_calendar.with_year(parse_year_schedule(schedule_2027_data))
