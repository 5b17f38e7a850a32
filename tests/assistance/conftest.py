"""Fixtures shared by the assistance tests: the court directory, the legal calendar, and valid cases.

`make_case` files a case through the real service (validation, case clock, audit, outbox), so every
case a test builds on is one the API would have accepted:

    record = await make_case(court_code="330106", category="wages", respondents=["person", "organization"])
    record.case.id, record.applicant, record.respondents[0].id, record.deadline

`case_body` returns the same thing as a `POST /api/v1/cases` body for HTTP tests; `principal_of`
builds the caller (a user of any role, or a court system's token) for service-level tests.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.cases import service as cases
from assistance.cases.identities import make_case_number, make_credit_code, make_resident_id
from assistance.cases.schemas import CaseCreate
from assistance.cases.service import CaseRecord
from command_center.calendar import LegalCalendar
from command_center.courts.directory import CourtDirectory
from command_center.db import Database
from command_center.identity.principal import Principal, Role

DEFAULT_COURT = "330106"  # 杭州市西湖区人民法院, case prefix 浙0106
DEFAULT_FILED_ON = date(2026, 3, 2)
DEFAULT_AMOUNT = 12_345_600  # fen: 123,456 yuan

_identities = itertools.count(1)
_case_serials = itertools.count(1)
_principal_ids = itertools.count(900_000)


def next_resident_id(region: str = DEFAULT_COURT) -> str:
    """A fresh valid resident ID number (unique within the test run)."""
    n = next(_identities)
    birth = date(1960, 1, 1) + timedelta(days=(n * 37) % 16_000)
    return make_resident_id(region, birth, n % 1000)


def next_credit_code(region: str = DEFAULT_COURT) -> str:
    """A fresh valid unified social credit code (unique within the test run)."""
    return make_credit_code(region, next(_identities))


def party_body(
    kind: str = "person", *, name: str | None = None, id_number: str | None = None
) -> dict[str, Any]:
    """A valid applicant or respondent: {"name", "kind", "id_number"}."""
    if kind == "person":
        return {"name": name or "张三", "kind": "person", "id_number": id_number or next_resident_id()}
    return {
        "name": name or "杭州华盛建筑工程有限公司",
        "kind": "organization",
        "id_number": id_number or next_credit_code(),
    }


def _party(spec: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(spec, str):
        return party_body(spec)
    return {**party_body(spec.get("kind", "person")), **spec}


@pytest.fixture(scope="session")
async def court_directory(database: Database) -> CourtDirectory:
    from command_center.courts.directory import load_directory

    async with database.unit_of_work(read_only=True) as s:
        return await load_directory(s)


@pytest.fixture(scope="session")
async def legal_calendar(database: Database) -> LegalCalendar:
    from command_center.calendar.service import load_calendar

    async with database.unit_of_work(read_only=True) as s:
        return await load_calendar(s)


@pytest.fixture
def principal_of() -> Callable[..., Principal]:
    """`principal_of("330106")` → a clerk of that court; `role="command_staff"`; `kind="token"` for a court
    system (which acts as a clerk)."""

    def build(court_code: str = DEFAULT_COURT, role: str = "clerk", *, kind: str = "user") -> Principal:
        n = next(_principal_ids)
        if kind == "token":
            return Principal(
                kind="token", id=n, name=f"court-system-{n}", court_code=court_code, role=Role.clerk
            )
        return Principal(
            kind="user",
            id=n,
            name=f"{role}_{court_code}_{n}",
            court_code=court_code,
            role=Role(role),
            session_id=n,
        )

    return build


@pytest.fixture
def case_body(court_directory: CourtDirectory) -> Callable[..., dict[str, Any]]:
    """A valid `POST /api/v1/cases` body; any field can be overridden.

    `respondents` is a list of "person" / "organization" / partial party dicts (missing fields are
    generated), or a number of generated persons.
    """

    def build(
        court_code: str = DEFAULT_COURT,
        *,
        category: str = "commercial",
        applicant: str | dict[str, Any] = "organization",
        respondents: int | list[str | dict[str, Any]] = 1,
        case_number: str | None = None,
        filed_on: date = DEFAULT_FILED_ON,
        amount_claimed: int = DEFAULT_AMOUNT,
        **extra: Any,
    ) -> dict[str, Any]:
        if isinstance(respondents, int):
            respondents = ["person"] * respondents
        prefix = court_directory.require(court_code).case_prefix
        return {
            "case_number": case_number or make_case_number(prefix, filed_on.year, next(_case_serials)),
            "court": court_code,
            "category": category,
            "applicant": _party(applicant),
            "respondents": [_party(r) for r in respondents],
            "amount_claimed": amount_claimed,
            "filed_on": filed_on.isoformat(),
            **extra,
        }

    return build


@pytest.fixture
async def make_case(
    test_db: Database,
    court_directory: CourtDirectory,
    legal_calendar: LegalCalendar,
    case_body: Callable[..., dict[str, Any]],
    principal_of: Callable[..., Principal],
) -> AsyncIterator[Callable[..., Awaitable[CaseRecord]]]:
    """Files a valid case through `cases.create_case` and returns its CaseRecord (case, parties, deadline).

    Takes `case_body`'s arguments, plus `principal=` (default: a clerk of the court) and `session=`
    (default: a unit of work of its own on the test's database, visible to the app under test).
    """

    async def make(
        court_code: str = DEFAULT_COURT,
        *,
        principal: Principal | None = None,
        session: AsyncSession | None = None,
        **kw: Any,
    ) -> CaseRecord:
        data = CaseCreate.model_validate(case_body(court_code, **kw))
        caller = principal or principal_of(court_code)

        async def file(s: AsyncSession) -> CaseRecord:
            case = await cases.create_case(
                s, principal=caller, directory=court_directory, calendar=legal_calendar, data=data
            )
            [record] = await cases.records(s, cases=[case])
            return record

        if session is not None:
            return await file(session)
        async with test_db.unit_of_work() as s:
            return await file(s)

    yield make
