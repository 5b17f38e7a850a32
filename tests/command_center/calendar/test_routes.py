"""`GET /api/v1/periods` over HTTP: the computed period, and a 422 naming each kind of bad input."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from command_center.calendar.service import load_calendar_year

COURT = "330106"


@pytest.fixture
async def clerk_client(make_user: Callable[..., Awaitable[Any]], login: Any) -> httpx.AsyncClient:
    return await login(await make_user("clerk", COURT))


async def test_a_period_in_days_is_computed_on_the_official_calendar(clerk_client: httpx.AsyncClient) -> None:
    response = await clerk_client.get("/api/v1/periods", params={"start": "2026-02-10", "days": 7})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "start": "2026-02-10",
        "deadline": "2026-02-24",
        "ends_at": "2026-02-25T00:00:00+08:00",
        "provisional": False,
        "skipped": [f"2026-02-{day}" for day in range(17, 24)],
        "rule": "Civil Code arts. 201, 203; Civil Procedure Law art. 85",
    }


async def test_periods_in_months_and_working_days(clerk_client: httpx.AsyncClient) -> None:
    months = await clerk_client.get("/api/v1/periods", params={"start": "2026-03-31", "months": 1})
    assert months.json()["deadline"] == "2026-04-30"
    working = await clerk_client.get("/api/v1/periods", params={"start": "2026-09-30", "working_days": 3})
    assert working.json()["deadline"] == "2026-10-10"


async def test_a_period_in_an_unscheduled_year_is_provisional_until_the_year_is_loaded(
    clerk_client: httpx.AsyncClient, services: Any, schedule_2027_data: dict[str, Any]
) -> None:
    params = {"start": "2027-01-28", "days": 10}
    before = (await clerk_client.get("/api/v1/periods", params=params)).json()
    assert (before["deadline"], before["provisional"]) == ("2027-02-08", True)

    async with services.db.unit_of_work() as session:
        await load_calendar_year(session, data=schedule_2027_data)
    await services.reload_calendar()

    after = (await clerk_client.get("/api/v1/periods", params=params)).json()
    assert (after["deadline"], after["provisional"]) == ("2027-02-15", False)


async def test_periods_require_authentication(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/periods", params={"start": "2026-02-10", "days": 7})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-02-10"}, "Give exactly one of days, months or working_days (got none)."),
        ({"start": "2026-02-10", "days": 7, "working_days": 5}, "got days and working_days"),
        ({"start": "2026-02-10", "days": -1}, "days"),
        ({"start": "2026-02-10", "days": 3651}, "days"),
        ({"start": "2026-02-10", "months": 121}, "months"),
        ({"start": "2026-02-10", "working_days": 2501}, "working_days"),
        ({"start": "2026-02-10", "days": "seven"}, "days"),
        ({"start": "2026-02-30", "days": 7}, "start"),
        ({"start": "1700000000", "days": 7}, "start"),
        ({"days": 7}, "start"),
        ({"start": "2026-02-10", "weeks": 2}, "weeks"),
        ({"start": "9999-12-31", "days": 7}, "start must lie between 1950-01-01 and 2199-12-31"),
    ],
)
async def test_bad_period_requests_are_rejected_with_a_message_naming_the_problem(
    clerk_client: httpx.AsyncClient, params: dict[str, Any], message: str
) -> None:
    response = await clerk_client.get("/api/v1/periods", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert message in error["message"]
