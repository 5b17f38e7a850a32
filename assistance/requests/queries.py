"""Finding requests: one request the caller may see, and the incoming/outgoing/supervised list views.

Visibility is `can_see_request` (command_center/identity/visibility.py): the requester's, the target's
and the supervisor's court scopes. A request the caller may not see is a 404 exactly like a request
that does not exist; the denial is still audited (`access.denied`), in a transaction of its own after
the caller's unit of work has rolled back (see `request_unit_of_work`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.cases.models import CaseParty, EnforcementCase
from assistance.cases.validation import normalize_case_number
from assistance.enums import MatterType, RequestStatus
from assistance.requests import deadlines as clocks
from assistance.requests.models import AssistanceRequest
from assistance.requests.reads import list_items
from assistance.requests.schemas import RequestFilter, RequestListItem
from command_center.audit import service as audit
from command_center.db import utcnow
from command_center.errors import InvalidInput, NotFound
from command_center.identity.visibility import CourtScope, can_see_request, court_scope

if TYPE_CHECKING:
    from command_center.courts.directory import CourtDirectory
    from command_center.identity.principal import Principal
    from command_center.services import Services

SUBJECT_TYPE = "assistance_request"  # audit subject type


class RequestHidden(NotFound):
    """A request exists but the caller's court may not see it: answered as a plain 404, audited as denied."""

    def __init__(self, request_id: int) -> None:
        super().__init__(f"No assistance request with id {request_id}.", details={"id": request_id})
        self.request_id = request_id


def not_found(request_id: int) -> NotFound:
    return NotFound(f"No assistance request with id {request_id}.", details={"id": request_id})


async def get_request(
    session: AsyncSession, *, request_id: int, for_update: bool = False
) -> AssistanceRequest | None:
    """The request with this id, whoever asks (callers authorize); `for_update` locks the row (PostgreSQL)."""
    stmt = sa.select(AssistanceRequest).where(AssistanceRequest.id == request_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


def is_visible(principal: Principal, directory: CourtDirectory, request: AssistanceRequest) -> bool:
    """True when the caller's court scope holds the requesting, target or supervising court."""
    return can_see_request(
        court_scope(principal, directory),
        requesting_court=request.requesting_court,
        target_court=request.target_court,
        supervising_court=request.supervising_court,
    )


async def get_visible_request(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    request_id: int,
    for_update: bool = False,
) -> AssistanceRequest:
    """The request if the caller may see it; NotFound for a missing one, RequestHidden (a NotFound) for
    one the caller may not see. `for_update` locks the row until the transaction ends (PostgreSQL)."""
    request = await get_request(session, request_id=request_id, for_update=for_update)
    if request is None:
        raise not_found(request_id)
    if not is_visible(principal, directory, request):
        raise RequestHidden(request_id)
    return request


@asynccontextmanager
async def request_unit_of_work(
    services: Services, principal: Principal, *, read_only: bool = False
) -> AsyncIterator[AsyncSession]:
    """A unit of work for a route about one request: on RequestHidden it rolls back, then appends an
    `access.denied` audit entry in its own transaction (on SQLite the first must end before the second
    can write) and lets the 404 through."""
    try:
        async with services.db.unit_of_work(read_only=read_only) as session:
            yield session
    except RequestHidden as exc:
        await audit.record_in_own_transaction(
            services.db,
            action="access.denied",
            actor=principal,
            subject_type=SUBJECT_TYPE,
            subject_id=str(exc.request_id),
            outcome="denied",
            details={"reason": "the request is not visible to the caller's court"},
        )
        raise


# --- list views -----------------------------------------------------------------------------------

VIEW_COLUMNS = {
    "incoming": AssistanceRequest.target_court,
    "outgoing": AssistanceRequest.requesting_court,
    "supervised": AssistanceRequest.supervising_court,
}


def _enum_list(raw: str | None, enum: type[Any], field: str) -> list[Any]:
    if raw is None or not raw.strip():
        return []
    values = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = [v for v in values if v not in enum.__members__]
    if unknown:
        raise InvalidInput(
            f"{field}: unknown value {unknown[0]!r}; one of {', '.join(enum.__members__)}",
            details=[{"field": field, "message": f"unknown value {v!r}"} for v in unknown],
        )
    return [enum(v) for v in dict.fromkeys(values)]


def filter_conditions(
    scope: CourtScope, filters: RequestFilter, *, now: datetime
) -> tuple[list[sa.ColumnElement[bool]], bool]:
    """The WHERE conditions of a list view, and whether they need the case joined (for `q`).

    The view's court condition comes first: with the (court, id) indexes the database walks one court's
    requests newest first and stops after a page.
    """
    conditions = [scope.filter(VIEW_COLUMNS[filters.view])]
    statuses = _enum_list(filters.status, RequestStatus, "status")
    if statuses:
        conditions.append(AssistanceRequest.status.in_(statuses))
    matters = _enum_list(filters.matter, MatterType, "matter")
    if matters:
        conditions.append(AssistanceRequest.matter_type.in_(matters))
    if filters.region:
        conditions.append(AssistanceRequest.region_code.startswith(filters.region, autoescape=True))
    if filters.overdue is not None:
        overdue = clocks.overdue_condition(AssistanceRequest.id, now=now)
        conditions.append(overdue if filters.overdue else sa.not_(overdue))
    needs_case = False
    if filters.q and filters.q.strip():
        term = filters.q.strip()
        by_number = EnforcementCase.case_number.contains(normalize_case_number(term), autoescape=True)
        if term.isdigit() and len(term) <= 9:
            conditions.append(sa.or_(AssistanceRequest.id == int(term), by_number))
        else:
            conditions.append(by_number)
        needs_case = True
    return conditions, needs_case


def _rows_statement(conditions: list[sa.ColumnElement[bool]]) -> sa.Select[Any]:
    return (
        sa.select(AssistanceRequest, EnforcementCase.case_number, CaseParty)
        .join(EnforcementCase, EnforcementCase.id == AssistanceRequest.case_id)
        .join(CaseParty, CaseParty.id == AssistanceRequest.subject_id)
        .where(*conditions)
        .order_by(AssistanceRequest.id.desc())
    )


async def count_requests(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    filters: RequestFilter,
    now: datetime | None = None,
) -> int:
    """How many requests a list view holds."""
    conditions, needs_case = filter_conditions(
        court_scope(principal, directory), filters, now=now or utcnow()
    )
    stmt = sa.select(sa.func.count()).select_from(AssistanceRequest)
    if needs_case:
        stmt = stmt.join(EnforcementCase, EnforcementCase.id == AssistanceRequest.case_id)
    return int(await session.scalar(stmt.where(*conditions)) or 0)


async def list_requests(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    filters: RequestFilter,
    page: int = 1,
    page_size: int = 20,
    now: datetime | None = None,
) -> tuple[list[RequestListItem], int]:
    """One page of a list view, newest first (stable: ordered by id), and the total; subjects masked."""
    now = now or utcnow()
    conditions, _ = filter_conditions(court_scope(principal, directory), filters, now=now)
    total = await count_requests(session, principal=principal, directory=directory, filters=filters, now=now)
    stmt = _rows_statement(conditions).offset((page - 1) * page_size).limit(page_size)
    rows = [tuple(row) for row in (await session.execute(stmt)).all()]
    return await list_items(session, rows=rows, directory=directory, now=now), total  # type: ignore[arg-type]


async def list_batch(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    filters: RequestFilter,
    before_id: int | None,
    limit: int,
    now: datetime,
) -> list[RequestListItem]:
    """Up to `limit` items of a list view with ids below `before_id`, newest first (keyset paging)."""
    conditions, _ = filter_conditions(court_scope(principal, directory), filters, now=now)
    if before_id is not None:
        conditions.append(AssistanceRequest.id < before_id)
    rows = [tuple(row) for row in (await session.execute(_rows_statement(conditions).limit(limit))).all()]
    return await list_items(session, rows=rows, directory=directory, now=now)  # type: ignore[arg-type]
