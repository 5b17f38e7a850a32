"""CSV export of a list view: UTF-8 with a byte-order mark (so Excel reads the Chinese), a header row,
ID numbers masked, streamed in keyset batches of short read-only transactions, and capped."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING

from assistance.requests.queries import count_requests, list_batch
from assistance.requests.schemas import RequestFilter, RequestListItem
from command_center.calendar.periods import SHANGHAI
from command_center.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from command_center.courts.directory import CourtDirectory
    from command_center.db import Database
    from command_center.identity.principal import Principal

EXPORT_MAX_ROWS = 50_000
BATCH_SIZE = 1000
BOM = "\ufeff"
COLUMNS = (
    "id",
    "status",
    "matter_type",
    "urgency",
    "case_number",
    "requesting_court",
    "requesting_court_name",
    "target_court",
    "target_court_name",
    "supervising_court",
    "supervising_court_name",
    "region_code",
    "address",
    "subject_name",
    "subject_id_number",
    "next_deadline",
    "next_due_on",
    "overdue",
    "routed_on",
    "created_at",
    "updated_at",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    # A cell starting like a formula would be evaluated by a spreadsheet: quote it as text.
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _local(instant: datetime) -> str:
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def csv_row(item: RequestListItem) -> list[str]:
    """One CSV row (the subject's ID number is already masked in a list item)."""
    deadline = item.next_deadline
    return [
        str(item.id),
        item.status.value,
        item.matter_type.value,
        item.urgency.value,
        _cell(item.case_number),
        item.requesting_court.code,
        item.requesting_court.name,
        item.target_court.code,
        item.target_court.name,
        item.supervising_court.code,
        item.supervising_court.name,
        item.location.region_code,
        _cell(item.location.address),
        _cell(item.subject.name),
        item.subject.id_number,
        deadline.kind.value if deadline else "",
        deadline.due_on.isoformat() if deadline else "",
        "yes" if item.overdue else "no",
        item.routed_on.isoformat(),
        _local(item.created_at),
        _local(item.updated_at),
    ]


def _lines(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


async def check_export_size(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    filters: RequestFilter,
    now: datetime,
    max_rows: int = EXPORT_MAX_ROWS,
) -> int:
    """The number of rows the export will hold; 422 when that is more than `max_rows`."""
    total = await count_requests(session, principal=principal, directory=directory, filters=filters, now=now)
    if total > max_rows:
        raise InvalidInput(
            f"This view holds {total:,} requests; an export holds at most {max_rows:,}. "
            "Narrow it with the status, matter, region or overdue filters and export again.",
            details={"rows": total, "max_rows": max_rows},
            code="export_too_large",
        )
    return total


async def csv_chunks(
    db: Database,
    *,
    principal: Principal,
    directory: CourtDirectory,
    filters: RequestFilter,
    now: datetime,
    max_rows: int = EXPORT_MAX_ROWS,
    batch_size: int = BATCH_SIZE,
) -> AsyncIterator[str]:
    """The export as text chunks: the BOM and header, then one chunk per batch, newest first.

    Each batch is read in its own short read-only transaction, continuing below the last id sent, so
    a long download never holds a transaction (or, on SQLite, a read snapshot) open.
    """
    yield BOM + _lines([list(COLUMNS)])
    sent, before_id = 0, None
    while sent < max_rows:
        limit = min(batch_size, max_rows - sent)
        async with db.unit_of_work(read_only=True) as session:
            items = await list_batch(
                session,
                principal=principal,
                directory=directory,
                filters=filters,
                before_id=before_id,
                limit=limit,
                now=now,
            )
        if not items:
            break
        yield _lines([csv_row(item) for item in items])
        sent += len(items)
        before_id = items[-1].id
        if len(items) < limit:
            break
