"""The list views use the (court, id) indexes: PostgreSQL walks one court's requests newest first and
stops after a page, instead of scanning and sorting the table."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from assistance.requests import queries
from assistance.requests.models import AssistanceRequest
from assistance.requests.schemas import RequestFilter
from command_center.courts.enums import CourtLevel
from command_center.db import utcnow
from command_center.identity.visibility import court_scope
from tests.assistance.requests.conftest import REQUESTER, TARGET

ROWS = 30_000


@pytest.fixture
async def many_requests(is_postgres: bool, session: Any, make_case: Any, court_directory: Any) -> None:
    if not is_postgres:
        pytest.skip("query plans are checked on PostgreSQL")
    case = await make_case(REQUESTER)
    basic = [c.code for c in court_directory.by_level(CourtLevel.basic) if c.active][:300]
    statuses = itertools.cycle(["routed", "filed", "in_progress", "completed", "withdrawn", "completed"])
    rows = [
        {
            "case_id": case.case.id,
            # One court in 300 asks for each request, as across a real country.
            "requesting_court": REQUESTER if i % 300 == 0 else basic[(i * 7 + 3) % len(basic)],
            "target_court": basic[i % len(basic)],
            "supervising_court": court_directory.require(basic[i % len(basic)]).superior_code,
            "matter_type": "freeze_deposits",
            "subject_id": case.respondents[0].id,
            "region_code": basic[i % len(basic)],
            "address": "地址",
            "urgency": "normal",
            "description": "",
            "materials": ["ruling", "assistance_notice"],
            "status": next(statuses),
            "version": 1,
            "created_by": "user:bench",
            "created_at": utcnow(),
            "updated_at": utcnow(),
            "routed_on": date(2026, 3, 2),
        }
        for i in range(ROWS)
    ]
    await session.execute(sa.insert(AssistanceRequest), rows)
    await session.execute(sa.text("ANALYZE assistance_request"))
    await session.execute(sa.text("ANALYZE deadline"))


async def _plan(session: Any, stmt: Any) -> str:
    sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    return "\n".join(row[0] for row in (await session.execute(sa.text("EXPLAIN " + sql))).all())


def _page_statement(principal: Any, directory: Any, **filters: Any) -> Any:
    conditions, _ = queries.filter_conditions(
        court_scope(principal, directory), RequestFilter(**filters), now=utcnow()
    )
    return queries._rows_statement(conditions).limit(20)


PAGES = [
    # (caller's court, view, filters, the index the page must be read through; None: any but a table scan)
    (TARGET, "incoming", {}, "ix_assistance_request_target"),
    (TARGET, "incoming", {"status": "routed,filed"}, "ix_assistance_request_target"),
    (TARGET, "incoming", {"matter": "freeze_deposits", "region": "33"}, "ix_assistance_request_target"),
    (REQUESTER, "outgoing", {}, "ix_assistance_request_requesting_id"),
    ("330100", "supervised", {}, "ix_assistance_request_supervising_id"),
    # Few requests have ended clocks, so starting from the deadlines is right; never a table scan.
    (TARGET, "incoming", {"overdue": True}, None),
]


async def test_list_pages_and_counts_are_read_through_the_court_indexes(
    many_requests: None, session: Any, court_directory: Any, principal_of: Any
) -> None:
    for court, view, filters, index in PAGES:
        plan = await _plan(
            session, _page_statement(principal_of(court), court_directory, view=view, **filters)
        )
        if index is not None:
            assert index in plan, plan
        assert "Seq Scan on assistance_request" not in plan, plan

    conditions, _ = queries.filter_conditions(
        court_scope(principal_of(TARGET), court_directory), RequestFilter(), now=utcnow()
    )
    plan = await _plan(session, sa.select(sa.func.count()).select_from(AssistanceRequest).where(*conditions))
    assert "ix_assistance_request_target" in plan, plan
    assert "Seq Scan on assistance_request" not in plan, plan

    # A province's command staff: a page of their whole subtree is not a sort of the whole table.
    plan = await _plan(
        session, _page_statement(principal_of("330000", "command_staff"), court_directory, view="supervised")
    )
    assert "Seq Scan on assistance_request" not in plan, plan
