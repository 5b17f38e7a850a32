"""Campaign dispatch, one batch per transaction, resumable from its checkpoint.

A dispatch walks the matching cases in case-id order (keyset pagination: `id > checkpoint`) up to
the last case id fixed when it started. Each batch, in ONE transaction:

1. locks the campaign row and checks that it is still dispatching and that the caller's job id is
   the campaign's current `dispatch_job_id` (the fencing token) — otherwise it changes nothing;
2. creates one task per case with INSERT … SELECT … ON CONFLICT (campaign_id, case_id) DO NOTHING;
3. raises those cases' priority to high;
4. notifies each court once (insert-if-absent into campaign_court_notice + `campaign:court_notified`);
5. advances `checkpoint` and `done` and emits `campaign:progress` {done, total}.

If the worker dies mid-batch the transaction rolls back and nothing of that batch remains; the next
job resumes after the committed checkpoint. Two jobs running at once cannot both act: the campaign
row lock (PostgreSQL FOR UPDATE; SQLite's single writer) serializes them and the stale one stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.campaigns.enums import CampaignStatus, TaskState
from assistance.campaigns.models import Campaign, CampaignCourtNotice, CampaignTask, as_utc
from assistance.campaigns.service import (
    campaign_room,
    case_conditions,
    court_room,
    dispatch_job_id,
    get,
)
from assistance.cases.models import EnforcementCase
from assistance.enums import CasePriority
from command_center.db import UtcDateTime, utcnow
from command_center.outbox.service import record_event

_CASE = EnforcementCase.__table__
_CAMPAIGN = Campaign.__table__
_TASK = CampaignTask.__table__
_NOTICE = CampaignCourtNotice.__table__


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one batch did. `more` is True while the walk has cases left and may go on."""

    campaign_id: int
    status: CampaignStatus | None  # None: no such campaign
    cases: int = 0  # cases in this batch
    tasks_created: int = 0  # of those, tasks that did not exist yet
    courts_notified: int = 0
    done: int = 0
    total: int = 0
    more: bool = False
    stopped: str | None = None  # why nothing was done: "cancelled", "superseded", "not_dispatching", ...
    courts_seen: frozenset[str] = frozenset()  # courts of the tasks created now: all have a notice


def _insert(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


async def dispatch_batch(
    session: AsyncSession,
    *,
    campaign_id: int,
    job_id: str,
    batch_size: int,
    notified_courts: frozenset[str] | set[str] = frozenset(),
    now: datetime | None = None,
) -> BatchOutcome:
    """Dispatches the next batch of up to `batch_size` cases in the caller's transaction (see the module
    docstring); when none are left, makes the campaign active. Emits `campaign:court_notified`,
    `campaign:progress` and, at the end, `campaign:dispatched`.

    `notified_courts` may name courts whose notice is known to be committed (earlier batches' `courts_seen`),
    to spare their insert-if-absent; it is only a shortcut, the notice's primary key decides."""
    now = now or utcnow()
    campaign = await get(session, campaign_id=campaign_id, for_update=True)
    if campaign is None:
        return BatchOutcome(campaign_id=campaign_id, status=None, stopped="missing")
    if campaign.status != CampaignStatus.dispatching:
        stopped = "cancelled" if campaign.status == CampaignStatus.cancelled else "not_dispatching"
        return _outcome(campaign, stopped=stopped)
    if campaign.dispatch_job_id != job_id:
        return _outcome(campaign, stopped="superseded")

    conditions = [*case_conditions(campaign), _CASE.c.id > campaign.checkpoint]
    if campaign.last_case_id is not None:
        conditions.append(_CASE.c.id <= campaign.last_case_id)
    # The batch is the next `batch_size` matching ids; its upper end bounds every statement below,
    # so they all act on the same range of the PK index.
    window = sa.select(_CASE.c.id).where(*conditions).order_by(_CASE.c.id).limit(batch_size).subquery()
    count, upper = (await session.execute(sa.select(sa.func.count(), sa.func.max(window.c.id)))).one()
    if not count:
        return await _finish(session, campaign, now)

    in_batch = [*case_conditions(campaign), _CASE.c.id > campaign.checkpoint, _CASE.c.id <= upper]
    insert = _insert(session)
    tasks = sa.select(
        sa.literal(campaign.id, sa.Integer),
        _CASE.c.id,
        _CASE.c.court_code,
        sa.literal(TaskState.open.value, sa.String),
        _CASE.c.amount_recovered,
        sa.literal(now, UtcDateTime()),
    ).where(*in_batch)
    columns = ["campaign_id", "case_id", "court_code", "state", "amount_recovered_at_start", "created_at"]
    # RETURNING gives the courts of the tasks created now (not of those a re-run found existing).
    created = (
        (
            await session.execute(
                insert(_TASK)
                .from_select(columns, tasks)
                .on_conflict_do_nothing(index_elements=["campaign_id", "case_id"])
                .returning(_TASK.c.court_code)
            )
        )
        .scalars()
        .all()
    )
    # Raising priority is a change to the case: its version moves, so a concurrent edit of the case
    # made against the old version is refused by the case service instead of silently undoing it.
    await session.execute(
        sa.update(_CASE)
        .where(*in_batch, _CASE.c.priority != CasePriority.high)
        .values(priority=CasePriority.high, version=_CASE.c.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    notified: list[str] = []
    seen = frozenset(created)
    if seen - notified_courts:
        # Each court once per campaign: the notice's primary key keeps the first, and only the
        # courts inserted now are told. Parameter sets (executemany) keep the statement compiled once.
        rows = [
            {"campaign_id": campaign.id, "court_code": code, "notified_at": now}
            for code in sorted(seen - notified_courts)
        ]
        notice = (
            insert(_NOTICE)
            .on_conflict_do_nothing(index_elements=["campaign_id", "court_code"])
            .returning(_NOTICE.c.court_code)
        )
        notified = list((await session.execute(notice, rows)).scalars().all())
    if notified:
        await record_event(
            session,
            name="campaign:court_notified",
            rooms=[court_room(code) for code in notified],
            payload={
                "campaign_id": campaign.id,
                "name": campaign.name,
                "creator_court": campaign.creator_court,
                "window_start": campaign.window_start,
                "window_end": campaign.window_end,
            },
        )
    campaign.checkpoint = upper
    campaign.done += count
    campaign.dispatch_heartbeat_at = now
    campaign.updated_at = now
    await session.flush()
    await record_event(
        session,
        name="campaign:progress",
        rooms=[campaign_room(campaign.id)],
        payload={"campaign_id": campaign.id, "done": campaign.done, "total": campaign.total},
    )
    return _outcome(
        campaign,
        cases=count,
        tasks_created=len(created),
        courts_notified=len(notified),
        courts_seen=seen,
        more=True,
    )


async def _finish(session: AsyncSession, campaign: Campaign, now: datetime) -> BatchOutcome:
    """No case is left: the campaign becomes active. Cases that stopped matching while the walk ran
    were never counted in `done`; the total is set to what was dispatched so progress ends at 100 %."""
    campaign.status = CampaignStatus.active
    campaign.total = campaign.done
    campaign.dispatch_finished_at = now
    campaign.dispatch_heartbeat_at = None
    campaign.updated_at = now
    campaign.version += 1
    await session.flush()
    payload = {"campaign_id": campaign.id, "done": campaign.done, "total": campaign.total}
    await record_event(session, name="campaign:progress", rooms=[campaign_room(campaign.id)], payload=payload)
    await record_event(
        session,
        name="campaign:dispatched",
        rooms=[campaign_room(campaign.id), court_room(campaign.creator_court)],
        payload={**payload, "status": campaign.status},
    )
    return _outcome(campaign)


def _outcome(campaign: Campaign, **kw: Any) -> BatchOutcome:
    return BatchOutcome(
        campaign_id=campaign.id, status=campaign.status, done=campaign.done, total=campaign.total, **kw
    )


@dataclass(frozen=True, slots=True)
class DispatchHandle:
    """A dispatching campaign's current job, as the reconciler sees it."""

    campaign_id: int
    job_id: str
    heartbeat_at: datetime | None


async def list_dispatching(session: AsyncSession) -> list[DispatchHandle]:
    """Every dispatching campaign with its current job id (by ix_campaign_status)."""
    stmt = (
        sa.select(_CAMPAIGN.c.id, _CAMPAIGN.c.dispatch_job_id, _CAMPAIGN.c.dispatch_heartbeat_at)
        .where(_CAMPAIGN.c.status == CampaignStatus.dispatching)
        .order_by(_CAMPAIGN.c.id)
    )
    return [
        DispatchHandle(
            campaign_id=row.id,
            job_id=row.dispatch_job_id or "",
            heartbeat_at=as_utc(row.dispatch_heartbeat_at),
        )
        for row in (await session.execute(stmt)).all()
    ]


async def claim(session: AsyncSession, *, campaign_id: int, job_id: str, now: datetime | None = None) -> bool:
    """A starting dispatch job marks its heartbeat, so the reconciler does not take a job that has only
    waited in the queue for lost; False when the job is not (or no longer) the campaign's dispatch."""
    now = now or utcnow()
    result = await session.execute(
        sa.update(_CAMPAIGN)
        .where(
            _CAMPAIGN.c.id == campaign_id,
            _CAMPAIGN.c.status == CampaignStatus.dispatching,
            _CAMPAIGN.c.dispatch_job_id == job_id,
        )
        .values(dispatch_heartbeat_at=now)
    )
    return bool(result.rowcount)


async def take_over(
    session: AsyncSession,
    *,
    campaign_id: int,
    stale_job_id: str,
    stale_before: datetime | None = None,
    now: datetime | None = None,
) -> str | None:
    """Hands a dispatch whose job is lost to a new job id (the next attempt) and returns it; None when
    the campaign moved on meanwhile. Compare-and-set on the old job id — and, with `stale_before`, on a
    heartbeat still older than that — so two reconcilers cannot both take over, and a job that has
    committed a batch since the reconciler looked keeps its dispatch. The old job, should it run
    again, finds itself superseded and stops."""
    now = now or utcnow()
    conditions = [
        _CAMPAIGN.c.id == campaign_id,
        _CAMPAIGN.c.status == CampaignStatus.dispatching,
        _CAMPAIGN.c.dispatch_job_id == stale_job_id,
    ]
    if stale_before is not None:
        conditions.append(
            sa.or_(
                _CAMPAIGN.c.dispatch_heartbeat_at.is_(None), _CAMPAIGN.c.dispatch_heartbeat_at < stale_before
            )
        )
    row = (
        await session.execute(sa.select(_CAMPAIGN.c.dispatch_attempt).where(*conditions).with_for_update())
    ).first()
    if row is None:
        return None
    attempt = row.dispatch_attempt + 1
    job_id = dispatch_job_id(campaign_id, attempt)
    await session.execute(
        sa.update(_CAMPAIGN)
        .where(_CAMPAIGN.c.id == campaign_id)
        .values(dispatch_attempt=attempt, dispatch_job_id=job_id, dispatch_heartbeat_at=now, updated_at=now)
    )
    return job_id
