"""Two court systems filing the same case number at the same moment: one case, one 409."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from assistance.cases import service
from assistance.cases.models import EnforcementCase
from assistance.cases.schemas import CaseCreate
from command_center.audit import service as audit
from command_center.calendar import LegalCalendar
from command_center.courts.directory import CourtDirectory
from command_center.db import Database
from command_center.errors import Conflict
from command_center.identity.principal import Principal
from command_center.settings import Settings
from tests.command_center.outbox.databases import private_database


@pytest.fixture(scope="module")
async def private_db(settings: Settings, tmp_root: Path) -> AsyncIterator[Database]:
    from command_center.courts.service import load_courts

    async with private_database(settings, tmp_root) as db:
        async with db.unit_of_work() as session:
            await load_courts(session)
        yield db


async def test_concurrent_filings_of_one_number_make_one_case_and_one_conflict(
    private_db: Database,
    court_directory: CourtDirectory,
    legal_calendar: LegalCalendar,
    case_body: Callable[..., dict[str, Any]],
    principal_of: Callable[..., Principal],
) -> None:
    number = case_body("330106")["case_number"]
    first_flushed = asyncio.Event()

    async def file(*, hold: bool) -> int:
        data = CaseCreate.model_validate(case_body("330106", case_number=number))
        async with private_db.unit_of_work() as session:
            case = await service.create_case(
                session,
                principal=principal_of("330106", kind="token"),
                directory=court_directory,
                calendar=legal_calendar,
                data=data,
            )
            if hold:
                # Keep the row uncommitted while the second filing runs into it.
                first_flushed.set()
                await asyncio.sleep(0.3)
            assert case.id is not None
            return case.id

    first = asyncio.create_task(file(hold=True))
    await first_flushed.wait()
    second = asyncio.create_task(file(hold=False))
    results = await asyncio.gather(first, second, return_exceptions=True)

    assert isinstance(results[0], int)
    assert isinstance(results[1], Conflict)
    assert results[1].details["case_id"] == results[0]
    async with private_db.unit_of_work(read_only=True) as session:
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(EnforcementCase)
            .where(EnforcementCase.case_number == number)
        )
        assert count == 1
        assert (await audit.verify(session)).ok
