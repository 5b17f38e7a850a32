"""`/api/v1/campaigns`: define, list, preview, dispatch, cancel, and the daily situation report."""

from __future__ import annotations

from datetime import date

from starlette.responses import Response

from assistance.campaigns import reports, service
from assistance.campaigns.enums import ReportFormat
from assistance.campaigns.models import Campaign, as_utc
from assistance.campaigns.queue import enqueue_dispatch
from assistance.campaigns.schemas import (
    CampaignCreate,
    CampaignCriteria,
    CampaignListQuery,
    CampaignPreviewRead,
    CampaignProgress,
    CampaignRead,
    CampaignReportQuery,
    CampaignReportRead,
    CourtCaseCount,
    CourtReportRow,
    ReportFigures,
)
from command_center.api import Call, Page, Router
from command_center.courts.directory import CourtDirectory
from command_center.errors import NotFound
from command_center.identity.visibility import court_scope

router = Router(prefix="/api/v1", tags=["campaigns"])


def _campaign_id(call: Call) -> int:
    raw = call.path["campaign_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise NotFound(f"No campaign {raw!r}.", details={"campaign_id": raw})
    return int(raw)


def progress_of(campaign: Campaign) -> CampaignProgress:
    percent = 100.0 if campaign.total == 0 and campaign.done == 0 and campaign.dispatch_finished_at else 0.0
    if campaign.total:
        percent = round(min(100.0, 100.0 * campaign.done / campaign.total), 2)
    return CampaignProgress(
        campaign_id=campaign.id,
        status=campaign.status,
        total=campaign.total,
        done=campaign.done,
        percent=percent,
        job_id=campaign.dispatch_job_id,
        started_at=as_utc(campaign.dispatch_started_at),
        finished_at=as_utc(campaign.dispatch_finished_at),
    )


def read_of(campaign: Campaign, directory: CourtDirectory) -> CampaignRead:
    creator = directory.get(campaign.creator_court)
    return CampaignRead(
        id=campaign.id,
        name=campaign.name,
        creator_court=campaign.creator_court,
        creator_court_name=creator.name if creator else None,
        created_by=campaign.created_by,
        window_start=campaign.window_start,
        window_end=campaign.window_end,
        criteria=CampaignCriteria.model_validate(campaign.criteria),
        target_courts=campaign.target_courts,
        status=campaign.status,
        progress=progress_of(campaign),
        closed_at=as_utc(campaign.closed_at),
        created_at=as_utc(campaign.created_at),
        updated_at=as_utc(campaign.updated_at),
        version=campaign.version,
    )


@router.post(
    "/campaigns",
    summary="Define a campaign over the open cases of the caller's subtree (command staff); it starts as a draft",
    body=CampaignCreate,
    response=CampaignRead,
    status=201,
)
async def create_campaign(call: Call) -> CampaignRead:
    directory = call.services.directory
    async with call.services.db.unit_of_work() as session:
        campaign = await service.create(session, data=call.body, creator=call.user, directory=directory)
    return read_of(campaign, directory)


@router.get(
    "/campaigns",
    summary="Campaigns created within the caller's scope or reaching a court in it, newest first",
    query=CampaignListQuery,
    response=Page[CampaignRead],
)
async def list_campaigns(call: Call) -> Page[CampaignRead]:
    q: CampaignListQuery = call.query
    directory = call.services.directory
    async with call.services.db.unit_of_work(read_only=True) as session:
        campaigns, total = await service.list_visible(
            session,
            principal=call.user,
            directory=directory,
            status=q.status,
            offset=q.offset,
            limit=q.page_size,
        )
    items = [read_of(c, directory) for c in campaigns]
    return Page[CampaignRead](items=items, total=total, page=q.page, page_size=q.page_size)


@router.get(
    "/campaigns/{campaign_id}", summary="One campaign with its dispatch progress", response=CampaignRead
)
async def get_campaign(call: Call) -> CampaignRead:
    directory = call.services.directory
    async with call.services.db.unit_of_work(read_only=True) as session:
        campaign = await service.get_visible(
            session, campaign_id=_campaign_id(call), principal=call.user, directory=directory
        )
    return read_of(campaign, directory)


@router.get(
    "/campaigns/{campaign_id}/preview",
    summary="Open cases the campaign would reach now, counted per court (command staff over the creator)",
    response=CampaignPreviewRead,
)
async def preview_campaign(call: Call) -> CampaignPreviewRead:
    directory = call.services.directory
    async with call.services.db.unit_of_work(read_only=True) as session:
        campaign = await service.get_managed(
            session, campaign_id=_campaign_id(call), principal=call.user, directory=directory
        )
        counts = await service.preview(session, campaign=campaign)
    courts = [
        CourtCaseCount(court_code=code, court_name=getattr(directory.get(code), "name", None), cases=cases)
        for code, cases in counts
    ]
    return CampaignPreviewRead(campaign_id=campaign.id, total=sum(c.cases for c in courts), courts=courts)


@router.post(
    "/campaigns/{campaign_id}/dispatch",
    summary="Start dispatching: one task per matching case, in batches, with live progress (202)",
    response=CampaignProgress,
    status=202,
)
async def dispatch_campaign(call: Call) -> CampaignProgress:
    directory = call.services.directory
    async with call.services.db.unit_of_work() as session:
        campaign, _started = await service.start_dispatch(
            session, campaign_id=_campaign_id(call), actor=call.user, directory=directory
        )
    # After commit: the job must find the campaign dispatching. A retried request enqueues the same
    # job id again, which arq ignores; if Redis is down, the worker's reconciler starts the job.
    await enqueue_dispatch(
        call.services.settings, campaign_id=campaign.id, job_id=campaign.dispatch_job_id or ""
    )
    return progress_of(campaign)


@router.post(
    "/campaigns/{campaign_id}/cancel",
    summary="Cancel the campaign; a running dispatch stops before its next batch",
    response=CampaignRead,
)
async def cancel_campaign(call: Call) -> CampaignRead:
    directory = call.services.directory
    async with call.services.db.unit_of_work() as session:
        campaign = await service.cancel(
            session, campaign_id=_campaign_id(call), actor=call.user, directory=directory
        )
    return read_of(campaign, directory)


@router.get(
    "/campaigns/{campaign_id}/report",
    summary="The daily situation report per court (JSON or CSV); without a date, the latest, else a live one",
    query=CampaignReportQuery,
    response=CampaignReportRead,
)
async def campaign_report(call: Call) -> CampaignReportRead | Response:
    q: CampaignReportQuery = call.query
    directory = call.services.directory
    principal = call.user
    async with call.services.db.unit_of_work(read_only=True) as session:
        campaign = await service.get_visible(
            session, campaign_id=_campaign_id(call), principal=principal, directory=directory
        )
        stored = await reports.get_stored(session, campaign_id=campaign.id, report_date=q.report_date)
        if stored is None and q.report_date is not None:
            raise NotFound(
                f"Campaign {campaign.id} has no report for {q.report_date}.",
                details={"campaign_id": campaign.id, "date": q.report_date.isoformat()},
            )
        if stored is not None:
            data, live = stored.data, False
        else:
            data = await reports.compute(session, campaign=campaign, report_date=service.shanghai_today())
            live = True
    if not service.can_manage(principal, campaign, directory):
        # A court reached by the campaign sees the rows of the courts in its own scope only.
        scope = court_scope(principal, directory)
        rows = [row for row in data["courts"] if scope.includes(row["court_code"])]
        data = {**data, "courts": rows, "totals": reports.totals(rows)}
    if q.format == ReportFormat.csv:
        filename = f"campaign-{campaign.id}-{data['report_date']}.csv"
        return Response(
            reports.to_csv(data),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return CampaignReportRead(
        campaign_id=campaign.id,
        campaign_name=data["campaign_name"],
        report_date=date.fromisoformat(data["report_date"]),
        generated_at=data["generated_at"],
        live=live,
        totals=ReportFigures(**data["totals"]),
        courts=[CourtReportRow(**row) for row in data["courts"]],
    )
