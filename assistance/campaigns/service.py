"""Campaigns: define one, see it, preview its reach, start and cancel its dispatch.

The dispatch itself (one batch per transaction) is in `assistance.campaigns.dispatch`; the daily
situation report in `assistance.campaigns.reports`. Who may see or manage a campaign is decided in
`can_see` and `can_manage` (a security boundary, used by the routes and by room joins).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.campaigns.enums import CampaignStatus
from assistance.campaigns.models import Campaign, CampaignCourtNotice
from assistance.campaigns.schemas import CampaignCreate, CampaignCriteria
from assistance.cases.models import EnforcementCase
from assistance.enums import CaseStatus
from command_center.audit.service import record
from command_center.calendar.periods import SHANGHAI
from command_center.courts.directory import CourtDirectory
from command_center.db import utcnow
from command_center.errors import Conflict, Forbidden, InvalidInput, NotFound
from command_center.identity.principal import Principal, Role
from command_center.identity.visibility import CourtScope, court_scope
from command_center.outbox.service import record_event

_CASE = EnforcementCase.__table__
_CAMPAIGN = Campaign.__table__
_NOTICE = CampaignCourtNotice.__table__

# The arq function names; the worker registers its jobs under these names.
DISPATCH_JOB = "dispatch_campaign"
REPORT_JOB = "report_campaign"

# A campaign may be (re)dispatched from these states: re-dispatching an active campaign reaches the
# cases that match now and have no task yet, and creates nothing for the others.
DISPATCHABLE = (CampaignStatus.draft, CampaignStatus.active)


def campaign_room(campaign_id: int) -> str:
    return f"campaign:{campaign_id}"


def court_room(court_code: str) -> str:
    return f"court:{court_code}"


def dispatch_job_id(campaign_id: int, attempt: int) -> str:
    """The arq job id of a dispatch attempt: `campaign:{id}:dispatch`, then `…:dispatch:{attempt}`."""
    base = f"campaign:{campaign_id}:dispatch"
    return base if attempt <= 1 else f"{base}:{attempt}"


def shanghai_today(now: datetime | None = None) -> date:
    """Today's date in Asia/Shanghai, where campaign windows and report days are counted."""
    return (now or utcnow()).astimezone(SHANGHAI).date()


# ---------------------------------------------------------------------------------------------
# Who may see and manage a campaign (security boundary)


def can_manage(principal: Principal, campaign: Campaign, directory: CourtDirectory) -> bool:
    """Command staff whose subtree holds the creator's court may preview, dispatch and cancel."""
    if principal.kind != "user" or principal.role != Role.command_staff:
        return False
    return court_scope(principal, directory).includes(campaign.creator_court)


async def can_see(
    session: AsyncSession, *, principal: Principal, campaign: Campaign, directory: CourtDirectory
) -> bool:
    """A campaign is visible to the creator court's scope and to every court it has notified."""
    scope = court_scope(principal, directory)
    if scope.includes(campaign.creator_court):
        return True
    stmt = sa.select(sa.literal(1)).where(
        _NOTICE.c.campaign_id == campaign.id, scope.filter(_NOTICE.c.court_code)
    )
    return (await session.execute(stmt.limit(1))).first() is not None


def _visible_condition(scope: CourtScope) -> sa.ColumnElement[bool]:
    notified = sa.exists().where(_NOTICE.c.campaign_id == _CAMPAIGN.c.id, scope.filter(_NOTICE.c.court_code))
    return sa.or_(scope.filter(_CAMPAIGN.c.creator_court), notified)


# ---------------------------------------------------------------------------------------------
# Criteria


def _field_error(status: type[InvalidInput | Forbidden], field: str, message: str) -> Exception:
    return status(f"{field}: {message}", details=[{"field": field, "message": message}])


def resolve_target_courts(
    directory: CourtDirectory, *, creator_court: str, criteria: CampaignCriteria
) -> list[str] | None:
    """The courts a campaign reaches (sorted), or None for every court; refuses courts outside the
    creator's subtree (403) and codes that name no court (422), naming the field."""
    subtree = directory.subtree_codes(creator_court)
    own_prefix = directory.jurisdiction_prefix(creator_court)
    if not criteria.region_prefixes and not criteria.court_codes:
        chosen = set(subtree)
    else:
        chosen = set()
        for index, prefix in enumerate(criteria.region_prefixes):
            field = f"criteria.region_prefixes.{index}"
            if not prefix.startswith(own_prefix):
                raise _field_error(
                    Forbidden, field, f"region {prefix} reaches beyond the subtree of court {creator_court}"
                )
            matched = {code for code in subtree if code.startswith(prefix)}
            if not matched:
                raise _field_error(
                    InvalidInput, field, f"no court in the subtree has a code starting {prefix}"
                )
            chosen |= matched
        for index, code in enumerate(criteria.court_codes):
            field = f"criteria.court_codes.{index}"
            if code not in directory:
                raise _field_error(InvalidInput, field, f"no court with code {code} in the court directory")
            if code not in subtree:
                raise _field_error(
                    Forbidden, field, f"court {code} is not within the subtree of {creator_court}"
                )
            chosen.add(code)
    return None if len(chosen) == len(directory) else sorted(chosen)


def case_conditions(campaign: Campaign) -> list[sa.ColumnElement[bool]]:
    """SQL conditions on `enforcement_case` selecting the open cases the campaign reaches."""
    criteria = CampaignCriteria.model_validate(campaign.criteria)
    conditions: list[sa.ColumnElement[bool]] = [_CASE.c.status == CaseStatus.open]
    categories = criteria.effective_categories()
    if categories:
        conditions.append(_CASE.c.category.in_(sorted(categories)))
    if campaign.target_courts is not None:
        conditions.append(_CASE.c.court_code.in_(campaign.target_courts))
    if criteria.filed_before is not None:
        conditions.append(_CASE.c.filed_on < criteria.filed_before)
    if criteria.min_amount is not None:
        conditions.append(_CASE.c.amount_claimed >= criteria.min_amount)
    return conditions


# ---------------------------------------------------------------------------------------------
# Reading


async def get(session: AsyncSession, *, campaign_id: int, for_update: bool = False) -> Campaign | None:
    """The campaign, or None; `for_update` locks its row until the transaction ends (PostgreSQL)."""
    stmt = sa.select(Campaign).where(Campaign.id == campaign_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalars().first()


async def get_visible(
    session: AsyncSession, *, campaign_id: int, principal: Principal, directory: CourtDirectory
) -> Campaign:
    """The campaign if the principal may see it; NotFound otherwise (its existence is not revealed)."""
    campaign = await get(session, campaign_id=campaign_id)
    if campaign is None or not await can_see(
        session, principal=principal, campaign=campaign, directory=directory
    ):
        raise NotFound(f"No campaign {campaign_id}.", details={"campaign_id": campaign_id})
    return campaign


async def get_managed(
    session: AsyncSession,
    *,
    campaign_id: int,
    principal: Principal,
    directory: CourtDirectory,
    for_update: bool = False,
) -> Campaign:
    """The campaign if the principal may manage it: NotFound when invisible, Forbidden when only visible."""
    campaign = await get_visible(session, campaign_id=campaign_id, principal=principal, directory=directory)
    if not can_manage(principal, campaign, directory):
        raise Forbidden("Only command staff over the creating court may manage this campaign.")
    if for_update:
        campaign = await get(session, campaign_id=campaign_id, for_update=True)
        assert campaign is not None
    return campaign


async def list_visible(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    status: CampaignStatus | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[list[Campaign], int]:
    """Campaigns the principal may see, newest first, and how many there are."""
    condition = _visible_condition(court_scope(principal, directory))
    if status is not None:
        condition = sa.and_(condition, _CAMPAIGN.c.status == status)
    total = await session.scalar(sa.select(sa.func.count()).select_from(_CAMPAIGN).where(condition))
    stmt = sa.select(Campaign).where(condition).order_by(Campaign.id.desc()).offset(offset).limit(limit)
    return list((await session.execute(stmt)).scalars().all()), total or 0


async def preview(session: AsyncSession, *, campaign: Campaign) -> list[tuple[str, int]]:
    """Open cases matching the campaign now, per court: [(court_code, cases)] by court code."""
    stmt = (
        sa.select(_CASE.c.court_code, sa.func.count())
        .where(*case_conditions(campaign))
        .group_by(_CASE.c.court_code)
        .order_by(_CASE.c.court_code)
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


# ---------------------------------------------------------------------------------------------
# Changing


def _summary(campaign: Campaign) -> dict[str, Any]:
    return {
        "campaign_id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "creator_court": campaign.creator_court,
        "window_start": campaign.window_start,
        "window_end": campaign.window_end,
        "done": campaign.done,
        "total": campaign.total,
    }


async def create(
    session: AsyncSession,
    *,
    data: CampaignCreate,
    creator: Principal,
    directory: CourtDirectory,
    today: date | None = None,
) -> Campaign:
    """Creates a draft campaign for the creator's court; emits `campaign:created` to the creator's court."""
    if creator.kind != "user" or creator.role != Role.command_staff:
        raise Forbidden("Only command staff may create a campaign.")
    today = today or shanghai_today()
    if data.window_end < data.window_start:
        raise _field_error(InvalidInput, "window_end", "the window ends before it starts")
    if data.window_end < today:
        raise _field_error(InvalidInput, "window_end", f"the window has already ended ({data.window_end})")
    target_courts = resolve_target_courts(directory, creator_court=creator.court_code, criteria=data.criteria)
    campaign = Campaign(
        name=data.name,
        creator_court=creator.court_code,
        creator_user_id=creator.id,
        created_by=creator.label,
        window_start=data.window_start,
        window_end=data.window_end,
        criteria=data.criteria.model_dump(mode="json"),
        target_courts=target_courts,
    )
    session.add(campaign)
    await session.flush()
    await record_event(
        session,
        name="campaign:created",
        rooms=[court_room(campaign.creator_court)],
        payload=_summary(campaign),
    )
    await record(
        session,
        action="campaign.created",
        actor=creator,
        subject_type="campaign",
        subject_id=str(campaign.id),
        details={
            "name": campaign.name,
            "criteria": campaign.criteria,
            "courts": len(target_courts or directory),
        },
    )
    return campaign


async def begin_dispatch(
    session: AsyncSession, *, campaign: Campaign, now: datetime | None = None
) -> Campaign:
    """Puts a locked draft or active campaign into `dispatching`: counts the matching cases, fixes the
    last case id the walk will reach, restarts the walk from the first case and names a new job id."""
    now = now or utcnow()
    total, last_case_id = (
        await session.execute(
            sa.select(sa.func.count(), sa.func.max(_CASE.c.id)).where(*case_conditions(campaign))
        )
    ).one()
    campaign.status = CampaignStatus.dispatching
    campaign.total = total or 0
    campaign.done = 0
    campaign.checkpoint = 0
    campaign.last_case_id = last_case_id or 0
    campaign.dispatch_attempt += 1
    campaign.dispatch_job_id = dispatch_job_id(campaign.id, campaign.dispatch_attempt)
    campaign.dispatch_heartbeat_at = now
    campaign.dispatch_started_at = now
    campaign.dispatch_finished_at = None
    campaign.updated_at = now
    campaign.version += 1
    await session.flush()
    return campaign


async def start_dispatch(
    session: AsyncSession,
    *,
    campaign_id: int,
    actor: Principal,
    directory: CourtDirectory,
    today: date | None = None,
) -> tuple[Campaign, bool]:
    """Starts dispatching a campaign (the caller enqueues the job after commit); returns the campaign and
    whether this call started it (False: it was already dispatching). Emits `campaign:dispatch_started`."""
    campaign = await get_managed(
        session, campaign_id=campaign_id, principal=actor, directory=directory, for_update=True
    )
    if campaign.status == CampaignStatus.dispatching:
        return campaign, False  # a retried request: the running dispatch answers it
    if campaign.status not in DISPATCHABLE:
        raise Conflict(f"Campaign {campaign_id} is {campaign.status}; it can no longer be dispatched.")
    if campaign.window_end < (today or shanghai_today()):
        raise Conflict(f"Campaign {campaign_id}'s window ended on {campaign.window_end}.")
    await begin_dispatch(session, campaign=campaign)
    rooms = [campaign_room(campaign.id), court_room(campaign.creator_court)]
    await record_event(session, name="campaign:dispatch_started", rooms=rooms, payload=_summary(campaign))
    await record(
        session,
        action="campaign.dispatched",
        actor=actor,
        subject_type="campaign",
        subject_id=str(campaign.id),
        details={
            "total": campaign.total,
            "job_id": campaign.dispatch_job_id,
            "attempt": campaign.dispatch_attempt,
        },
    )
    return campaign, True


async def cancel(
    session: AsyncSession, *, campaign_id: int, actor: Principal, directory: CourtDirectory
) -> Campaign:
    """Cancels a campaign; a running dispatch stops before its next batch. Tasks already created stay.
    Emits `campaign:cancelled` to the campaign's room and the creator's court."""
    campaign = await get_managed(
        session, campaign_id=campaign_id, principal=actor, directory=directory, for_update=True
    )
    if campaign.status == CampaignStatus.cancelled:
        return campaign
    if campaign.status == CampaignStatus.completed:
        raise Conflict(f"Campaign {campaign_id} is completed; it cannot be cancelled.")
    was = campaign.status
    now = utcnow()
    campaign.status = CampaignStatus.cancelled
    campaign.closed_at = now
    campaign.updated_at = now
    campaign.version += 1
    await session.flush()
    rooms = [campaign_room(campaign.id), court_room(campaign.creator_court)]
    await record_event(session, name="campaign:cancelled", rooms=rooms, payload=_summary(campaign))
    await record(
        session,
        action="campaign.cancelled",
        actor=actor,
        subject_type="campaign",
        subject_id=str(campaign.id),
        details={"was": was, "done": campaign.done, "total": campaign.total},
    )
    return campaign
