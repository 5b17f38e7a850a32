"""A campaign's situation report: per court, tasks, concluded, amount recovered and overdue.

The daily report (18:00 Asia/Shanghai) is stored once per campaign and day and announced in the
campaign's room; the first report after the window has ended is the final one and completes the
campaign. A live report (not stored) can be computed at any time.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.campaigns.enums import CampaignStatus, TaskState
from assistance.campaigns.models import Campaign, CampaignReport, CampaignTask
from assistance.campaigns.service import campaign_room, court_room, get
from assistance.cases.models import EnforcementCase
from assistance.enums import CaseStatus, DeadlineState
from assistance.requests.models import AssistanceRequest, Deadline
from command_center.courts.models import Court
from command_center.db import utcnow
from command_center.outbox.service import record_event

_CASE = EnforcementCase.__table__
_TASK = CampaignTask.__table__
_REPORT = CampaignReport.__table__
_DEADLINE = Deadline.__table__
_REQUEST = AssistanceRequest.__table__
_COURT = Court.__table__

# Deadline.subject_type values: a case's own clock (6 months) and its assistance requests' clocks.
CASE_SUBJECT = "case"
REQUEST_SUBJECT = "request"
FIGURES = ("tasks", "concluded", "amount_recovered", "overdue")
CSV_HEADER = (
    "court_code",
    "court_name",
    "tasks",
    "concluded",
    "amount_recovered_fen",
    "amount_recovered_yuan",
    "overdue",
)


def _missed_deadline() -> sa.ColumnElement[bool]:
    """True for a case with a missed deadline of its own or of one of its assistance requests."""
    own = sa.exists().where(
        _DEADLINE.c.subject_type == CASE_SUBJECT,
        _DEADLINE.c.subject_id == _CASE.c.id,
        _DEADLINE.c.state == DeadlineState.missed,
    )
    of_request = sa.exists().where(
        _REQUEST.c.case_id == _CASE.c.id,
        _DEADLINE.c.subject_type == REQUEST_SUBJECT,
        _DEADLINE.c.subject_id == _REQUEST.c.id,
        _DEADLINE.c.state == DeadlineState.missed,
    )
    return sa.or_(own, of_request)


async def compute(
    session: AsyncSession, *, campaign: Campaign, report_date: date, now: datetime | None = None
) -> dict[str, Any]:
    """The report's data as of now, for `report_date` (one GROUP BY over the campaign's tasks)."""
    is_open = sa.and_(_TASK.c.state == TaskState.open, _CASE.c.status == CaseStatus.open)
    # Overdue: an open task whose case has missed a deadline; once the window has ended, every open task.
    overdue = is_open if report_date > campaign.window_end else sa.and_(is_open, _missed_deadline())
    gained = _CASE.c.amount_recovered - _TASK.c.amount_recovered_at_start
    stmt = (
        sa.select(
            _TASK.c.court_code,
            _COURT.c.name,
            sa.func.count(),
            sa.func.sum(sa.case((is_open, 0), else_=1)),
            sa.func.sum(sa.case((gained > 0, gained), else_=0)),
            sa.func.sum(sa.case((overdue, 1), else_=0)),
        )
        .select_from(
            _TASK.join(_CASE, _CASE.c.id == _TASK.c.case_id).outerjoin(
                _COURT, _COURT.c.code == _TASK.c.court_code
            )
        )
        .where(_TASK.c.campaign_id == campaign.id)
        .group_by(_TASK.c.court_code, _COURT.c.name)
        .order_by(_TASK.c.court_code)
    )
    courts = [
        {
            "court_code": code,
            "court_name": name,
            "tasks": int(tasks),
            "concluded": int(concluded or 0),
            "amount_recovered": int(recovered or 0),
            "overdue": int(late or 0),
        }
        for code, name, tasks, concluded, recovered, late in (await session.execute(stmt)).all()
    ]
    return {
        "campaign_id": campaign.id,
        "campaign_name": campaign.name,
        "report_date": report_date.isoformat(),
        "generated_at": (now or utcnow()).isoformat(),
        "totals": totals(courts),
        "courts": courts,
    }


def totals(courts: list[dict[str, Any]]) -> dict[str, int]:
    """The sum of each figure over the given court rows."""
    return {name: sum(row[name] for row in courts) for name in FIGURES}


async def conclude_tasks(session: AsyncSession, *, campaign_id: int, now: datetime | None = None) -> int:
    """Marks the campaign's open tasks whose case has left `open` as concluded; returns how many."""
    case_closed = sa.exists().where(_CASE.c.id == _TASK.c.case_id, _CASE.c.status != CaseStatus.open)
    result = await session.execute(
        sa.update(_TASK)
        .where(_TASK.c.campaign_id == campaign_id, _TASK.c.state == TaskState.open, case_closed)
        .values(state=TaskState.concluded)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def _insert(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


async def store_daily(
    session: AsyncSession, *, campaign_id: int, report_date: date, now: datetime | None = None
) -> CampaignReport | None:
    """Stores the campaign's report for `report_date` unless one exists (a re-run stores and announces
    nothing); emits `campaign:report_ready`. The first report after the window has ended completes the
    campaign (`campaign:completed`). Returns the new report, or None when nothing was stored."""
    now = now or utcnow()
    campaign = await get(session, campaign_id=campaign_id, for_update=True)
    if campaign is None or campaign.status != CampaignStatus.active:
        return None
    await conclude_tasks(session, campaign_id=campaign.id, now=now)
    data = await compute(session, campaign=campaign, report_date=report_date, now=now)
    inserted = (
        await session.execute(
            _insert(session)(_REPORT)
            .values(campaign_id=campaign.id, report_date=report_date, data=data, created_at=now)
            .on_conflict_do_nothing(index_elements=["campaign_id", "report_date"])
            .returning(_REPORT.c.id)
        )
    ).scalar()
    if inserted is None:
        return None
    room = campaign_room(campaign.id)
    await record_event(
        session,
        name="campaign:report_ready",
        rooms=[room],
        payload={"campaign_id": campaign.id, "report_date": report_date, "totals": data["totals"]},
    )
    if report_date > campaign.window_end:
        campaign.status = CampaignStatus.completed
        campaign.closed_at = now
        campaign.updated_at = now
        campaign.version += 1
        await session.flush()
        await record_event(
            session,
            name="campaign:completed",
            rooms=[room, court_room(campaign.creator_court)],
            payload={"campaign_id": campaign.id, "report_date": report_date, "totals": data["totals"]},
        )
    return await session.get(CampaignReport, inserted)


async def missing_daily(session: AsyncSession, *, report_date: date) -> list[int]:
    """Ids of the active campaigns that have no stored report for `report_date`."""
    campaign = Campaign.__table__
    stored = sa.exists().where(_REPORT.c.campaign_id == campaign.c.id, _REPORT.c.report_date == report_date)
    stmt = (
        sa.select(campaign.c.id)
        .where(campaign.c.status == CampaignStatus.active, ~stored)
        .order_by(campaign.c.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def get_stored(
    session: AsyncSession, *, campaign_id: int, report_date: date | None = None
) -> CampaignReport | None:
    """The stored report of `report_date`, or the latest one when no date is given."""
    stmt = sa.select(CampaignReport).where(CampaignReport.campaign_id == campaign_id)
    if report_date is not None:
        stmt = stmt.where(CampaignReport.report_date == report_date)
    stmt = stmt.order_by(CampaignReport.report_date.desc()).limit(1)
    return (await session.execute(stmt)).scalars().first()


def to_csv(data: dict[str, Any]) -> bytes:
    """The report's court rows and a total row as CSV, UTF-8 with a BOM so that Excel reads the names."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    # The last row (no court code, named 合计) holds the totals.
    for row in [*data["courts"], {"court_code": "", "court_name": "合计", **data["totals"]}]:
        fen = row["amount_recovered"]
        writer.writerow(
            (
                row["court_code"],
                row["court_name"] or "",
                row["tasks"],
                row["concluded"],
                fen,
                _yuan(fen),
                row["overdue"],
            )
        )
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"
