"""The statutory clocks of an assistance request (DESIGN.md §3, legal clocks).

From the day a request is routed to the receiving court (day R; the starting day is not counted, Civil
Code art. 201):

* file by R + 7 days — 最高人民法院关于委托执行若干问题的规定 (法释〔2011〕11号) art. 9: the receiving court
  files the matter within 7 days and notifies the requesting court;
* start by R + 15 days and report by R + 30 days — Civil Procedure Law art. 240 (2023 text; art. 229
  before 2021): the commissioned court starts within 15 days and may not refuse; not finished within
  30 days, it reports progress to the commissioning court;
* a request for supplementary materials gives the requesting court 30 days — 北京市高级人民法院 implementing
  opinion on commissioned execution (2011): unanswered, the request is deemed withdrawn.

Each open state implies exactly one set of pending clocks (`implied_pending_kinds`). The database holds
every deadline; scheduler jobs only nudge, and use the `version` of a deadline as a fencing token.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.enums import DeadlineKind, DeadlineState, RequestStatus
from assistance.requests.models import Deadline
from command_center.calendar import LegalCalendar, Period, add_days
from command_center.db import insert_returning_ids, utcnow

SUBJECT_TYPE = "request"
_DEADLINE = Deadline.__table__
K = DeadlineKind


@dataclass(frozen=True, slots=True)
class Clock:
    days: int
    rule: str


CLOCKS: dict[DeadlineKind, Clock] = {
    K.file: Clock(7, "法释〔2011〕11号 art. 9: file within 7 days of receiving the commission"),
    K.start: Clock(15, "Civil Procedure Law art. 240: start within 15 days of receiving the commission"),
    K.report: Clock(30, "Civil Procedure Law art. 240: report progress if not done within 30 days"),
    K.supplement: Clock(
        30, "北京市高级人民法院 implementing opinion (2011): supplement within 30 days, else deemed withdrawn"
    ),
}

_IMPLIED: dict[RequestStatus, frozenset[DeadlineKind]] = {
    RequestStatus.routed: frozenset({K.file, K.start, K.report}),
    RequestStatus.filed: frozenset({K.start, K.report}),
    RequestStatus.in_progress: frozenset({K.report}),
    RequestStatus.awaiting_supplement: frozenset({K.supplement}),
}


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC: SQLite compares stored timestamps as UTC text, so every bound must be UTC."""
    if value.tzinfo is None:
        raise ValueError("a timezone-aware datetime is required")
    return value.astimezone(UTC)


def implied_pending_kinds(status: RequestStatus | str) -> frozenset[DeadlineKind]:
    """The kinds of deadline a request in `status` has pending (empty for rejected and closed requests)."""
    return _IMPLIED.get(RequestStatus(status), frozenset())


@functools.lru_cache(maxsize=4096)
def compute(calendar: LegalCalendar, kind: DeadlineKind, start: date) -> Period:
    """The period of `kind` that starts on `start` (not counted), moved past rest days (Civil Code art. 203).
    Remembered per calendar (an immutable one; a reload is a new calendar), kind and day."""
    return add_days(calendar, start, CLOCKS[kind].days)


def deadline_values(
    calendar: LegalCalendar, *, subject_id: int, kind: DeadlineKind, start: date
) -> dict[str, Any]:
    """The row of a pending deadline of `kind` on request `subject_id`, running from `start`."""
    period = compute(calendar, kind, start)
    return {
        "subject_type": SUBJECT_TYPE,
        "subject_id": subject_id,
        "kind": kind,
        "started_on": start,
        "due_on": period.deadline,
        # 24:00 Asia/Shanghai of the last day, stored as the UTC instant.
        "ends_at": period.ends_at.astimezone(UTC),
        "provisional": period.provisional,
        "rule": f"{CLOCKS[kind].rule}; {period.rule}",
        "state": DeadlineState.pending,
        "version": 1,
    }


def new_deadline(calendar: LegalCalendar, *, subject_id: int, kind: DeadlineKind, start: date) -> Deadline:
    """An unsaved pending deadline of `kind` on request `subject_id`, running from `start`."""
    return Deadline(**deadline_values(calendar, subject_id=subject_id, kind=kind, start=start))


async def insert_deadlines(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Writes `deadline_values` rows with one insert (no ORM objects); returns their ids in row order."""
    if not rows:
        return []
    now = utcnow()
    return await insert_returning_ids(session, _DEADLINE, [{**row, "created_at": now} for row in rows])


async def open_deadlines(
    session: AsyncSession,
    *,
    calendar: LegalCalendar,
    subject_id: int,
    kinds: Iterable[DeadlineKind],
    start: date,
) -> list[Deadline]:
    """Adds a pending deadline of each kind on request `subject_id`, all running from `start`."""
    rows = [new_deadline(calendar, subject_id=subject_id, kind=kind, start=start) for kind in sorted(kinds)]
    session.add_all(rows)
    await session.flush()
    return rows


async def list_deadlines(session: AsyncSession, *, subject_type: str, subject_id: int) -> list[Deadline]:
    """Every deadline of one subject, in the order they were opened."""
    stmt = (
        sa.select(Deadline)
        .where(Deadline.subject_type == subject_type, Deadline.subject_id == subject_id)
        .order_by(Deadline.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def pending_deadlines(session: AsyncSession, *, subject_type: str, subject_id: int) -> list[Deadline]:
    """The pending deadlines of one subject, earliest end first."""
    stmt = (
        sa.select(Deadline)
        .where(
            Deadline.subject_type == subject_type,
            Deadline.subject_id == subject_id,
            Deadline.state == DeadlineState.pending,
        )
        .order_by(Deadline.ends_at, Deadline.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def deadlines_for_requests(
    session: AsyncSession, *, request_ids: Iterable[int]
) -> dict[int, list[Deadline]]:
    """The pending and missed deadlines of many requests (one query), earliest end first."""
    ids = sorted(set(request_ids))
    found: dict[int, list[Deadline]] = {request_id: [] for request_id in ids}
    if not ids:
        return found
    stmt = (
        sa.select(Deadline)
        .where(
            Deadline.subject_type == SUBJECT_TYPE,
            Deadline.subject_id.in_(ids),
            Deadline.state.in_([DeadlineState.pending, DeadlineState.missed]),
        )
        .order_by(Deadline.ends_at, Deadline.id)
    )
    for row in (await session.execute(stmt)).scalars():
        found[row.subject_id].append(row)
    return found


def is_overdue(deadlines: Iterable[Deadline], *, now: datetime) -> bool:
    """True when a deadline was missed, or a pending one has ended before `now`."""
    return any(
        d.state == DeadlineState.missed or (d.state == DeadlineState.pending and d.ends_at <= now)
        for d in deadlines
    )


def overdue_condition(subject_id_column: sa.ColumnElement[int], *, now: datetime) -> sa.ColumnElement[bool]:
    """SQL: the request in `subject_id_column` has a missed deadline or a pending one past its end."""
    now = as_utc(now)
    return (
        sa.select(sa.literal(1))
        .select_from(Deadline)
        .where(
            Deadline.subject_type == SUBJECT_TYPE,
            Deadline.subject_id == subject_id_column,
            sa.or_(
                Deadline.state == DeadlineState.missed,
                sa.and_(Deadline.state == DeadlineState.pending, Deadline.ends_at <= now),
            ),
        )
        .exists()
    )


async def _close_pending(
    session: AsyncSession,
    *,
    subject_id: int,
    kinds: Iterable[DeadlineKind],
    state: DeadlineState,
    now: datetime,
) -> None:
    kinds = sorted(kinds)
    if not kinds:
        return
    # Only pending rows change, and each change bumps the fencing version: a deadline job that
    # marked one missed a moment earlier keeps its result, and a stale job sees the new version.
    await session.execute(
        sa.update(Deadline)
        .where(
            Deadline.subject_type == SUBJECT_TYPE,
            Deadline.subject_id == subject_id,
            Deadline.state == DeadlineState.pending,
            Deadline.kind.in_(kinds),
        )
        .values(state=state, version=Deadline.version + 1, closed_at=now)
        .execution_options(synchronize_session=False)
    )


async def apply_status_change(
    session: AsyncSession,
    *,
    calendar: LegalCalendar,
    request_id: int,
    new_status: RequestStatus,
    meets: frozenset[DeadlineKind],
    starts_clocks: bool,
    today: date,
    now: datetime | None = None,
) -> None:
    """Brings a request's deadlines in line with `new_status`.

    Pending deadlines the new state no longer implies are closed: `met` when the action satisfies them,
    otherwise `cancelled`. With `starts_clocks`, every clock the new state implies starts on `today`:
    after a supplement the statutory clocks run again from the day the complete materials arrive (the
    periods run from receipt of the commission with its materials); after a reroute they run from the
    day the new court receives it; a supplement request starts the 30-day supplement clock.
    """
    now = as_utc(now or utcnow())
    pending = await pending_deadlines(session, subject_type=SUBJECT_TYPE, subject_id=request_id)
    implied = implied_pending_kinds(new_status)
    ending = {DeadlineKind(d.kind) for d in pending} - implied
    await _close_pending(
        session, subject_id=request_id, kinds=ending & meets, state=DeadlineState.met, now=now
    )
    await _close_pending(
        session, subject_id=request_id, kinds=ending - meets, state=DeadlineState.cancelled, now=now
    )
    if starts_clocks:
        still_pending = {DeadlineKind(d.kind) for d in pending} & implied
        await open_deadlines(
            session, calendar=calendar, subject_id=request_id, kinds=implied - still_pending, start=today
        )


async def due_deadlines(session: AsyncSession, *, now: datetime, limit: int = 500) -> list[Deadline]:
    """Pending deadlines (requests and cases) whose end is at or before `now`, earliest first (the sweep)."""
    now = as_utc(now)
    stmt = (
        sa.select(Deadline)
        .where(Deadline.state == DeadlineState.pending, Deadline.ends_at <= now)
        .order_by(Deadline.ends_at, Deadline.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars().all())


async def mark_missed(
    session: AsyncSession, *, deadline_id: int, version: int | None = None, now: datetime | None = None
) -> Deadline | None:
    """Marks a pending deadline whose end has passed as missed and bumps its version.

    Returns None (and changes nothing) when the deadline is gone, no longer pending, not yet over at
    `now`, or its version is not `version` (a stale job): safe to run twice.
    """
    now = as_utc(now or utcnow())
    conditions = [
        Deadline.id == deadline_id,
        Deadline.state == DeadlineState.pending,
        Deadline.ends_at <= now,
    ]
    if version is not None:
        conditions.append(Deadline.version == version)
    result = await session.execute(
        sa.update(Deadline)
        .where(*conditions)
        .values(state=DeadlineState.missed, version=Deadline.version + 1, closed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    stmt = sa.select(Deadline).where(Deadline.id == deadline_id).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one()
