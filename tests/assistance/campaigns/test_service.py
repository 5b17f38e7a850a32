"""Campaign service: criteria, reach, preview, dispatch batches, fencing, cancel and visibility."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.campaigns import dispatch, service
from assistance.campaigns.enums import CampaignStatus
from assistance.campaigns.models import Campaign, CampaignCourtNotice, CampaignTask
from assistance.campaigns.schemas import CampaignCriteria
from assistance.cases.models import EnforcementCase
from assistance.enums import LIVELIHOOD_CATEGORIES, CaseCategory
from command_center.courts.directory import CourtDirectory
from command_center.errors import Conflict, Forbidden, InvalidInput
from command_center.outbox.models import OutboxEvent
from tests.assistance.campaigns.factories import TODAY, create_campaign, drain_dispatch, insert_cases, staff

_CASE = EnforcementCase.__table__
_TASK = CampaignTask.__table__
HANGZHOU = ["330102", "330105", "330106"]
NINGBO = ["330203"]


async def _tasks(session: AsyncSession, campaign_id: int) -> list[int]:
    stmt = sa.select(_TASK.c.case_id).where(_TASK.c.campaign_id == campaign_id).order_by(_TASK.c.case_id)
    return list((await session.execute(stmt)).scalars().all())


async def _events(session: AsyncSession, *, name: str, room_like: str) -> list[OutboxEvent]:
    stmt = (
        sa.select(OutboxEvent)
        .where(OutboxEvent.name == name, OutboxEvent.room.like(room_like))
        .order_by(OutboxEvent.id)
    )
    return list((await session.execute(stmt)).scalars().all())


def test_livelihood_preset_means_the_four_livelihood_categories() -> None:
    assert CampaignCriteria(livelihood=True).effective_categories() == LIVELIHOOD_CATEGORIES
    assert CampaignCriteria(livelihood=True, categories=[CaseCategory.loan]).effective_categories() == (
        LIVELIHOOD_CATEGORIES | {CaseCategory.loan}
    )
    assert CampaignCriteria().effective_categories() == frozenset()  # every category


def test_reach_is_the_creators_subtree_unless_narrowed(court_directory: CourtDirectory) -> None:
    criteria = CampaignCriteria()
    assert service.resolve_target_courts(court_directory, creator_court="000000", criteria=criteria) is None
    hangzhou = service.resolve_target_courts(court_directory, creator_court="330100", criteria=criteria)
    assert hangzhou == sorted(court_directory.subtree_codes("330100"))
    narrowed = CampaignCriteria(region_prefixes=["3302"], court_codes=["330106"])
    reach = service.resolve_target_courts(court_directory, creator_court="330000", criteria=narrowed)
    assert "330106" in reach and "330203" in reach and "330102" not in reach
    assert all(code.startswith("3302") for code in reach if code != "330106")


@pytest.mark.parametrize(
    ("creator", "criteria", "error", "field"),
    [
        ("330100", {"court_codes": ["330203"]}, Forbidden, "criteria.court_codes.0"),
        ("330100", {"court_codes": ["330106", "320102"]}, Forbidden, "criteria.court_codes.1"),
        ("330100", {"region_prefixes": ["33"]}, Forbidden, "criteria.region_prefixes.0"),
        ("330000", {"region_prefixes": ["32"]}, Forbidden, "criteria.region_prefixes.0"),
        ("330000", {"region_prefixes": ["3399"]}, InvalidInput, "criteria.region_prefixes.0"),
        ("330000", {"court_codes": ["339999"]}, InvalidInput, "criteria.court_codes.0"),
    ],
)
def test_courts_outside_the_creators_subtree_are_refused_naming_the_field(
    court_directory: CourtDirectory, creator: str, criteria: dict, error: type, field: str
) -> None:
    with pytest.raises(error) as caught:
        service.resolve_target_courts(
            court_directory, creator_court=creator, criteria=CampaignCriteria.model_validate(criteria)
        )
    assert caught.value.details[0]["field"] == field


async def test_only_command_staff_create_campaigns(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    for caller in (staff("330100", "officer"), staff("330100", "clerk"), staff("330100", kind="token")):
        with pytest.raises(Forbidden):
            await create_campaign(session, court_directory, creator=caller, livelihood=True)


async def test_a_window_that_ends_before_it_starts_is_refused(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await create_campaign(
            session, court_directory, creator=staff("330100"), window=(TODAY, TODAY - timedelta(days=1))
        )
    assert caught.value.details[0]["field"] == "window_end"


async def test_preview_counts_open_matching_cases_per_court(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    await insert_cases(session, count=9, courts=HANGZHOU, category="wages")
    await insert_cases(session, count=2, courts=["330106"], category="alimony_support", amount_claimed=100)
    await insert_cases(session, count=4, courts=HANGZHOU, category="commercial")  # not livelihood
    await insert_cases(session, count=3, courts=HANGZHOU, category="wages", status="concluded")  # not open
    await insert_cases(
        session, count=5, courts=HANGZHOU, category="wages", filed_on=date(2026, 1, 20)
    )  # too late
    await insert_cases(session, count=6, courts=NINGBO, category="wages")  # outside the creator's subtree
    campaign = await create_campaign(
        session,
        court_directory,
        creator=staff("330100"),
        livelihood=True,
        filed_before="2026-01-01",
        min_amount=1_000,
    )
    assert await service.preview(session, campaign=campaign) == [("330102", 3), ("330105", 3), ("330106", 3)]


async def test_dispatch_creates_exactly_one_task_per_matching_case_and_none_for_others(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    matching = await insert_cases(session, count=23, courts=HANGZHOU, category="work_injury")
    others = await insert_cases(session, count=5, courts=HANGZHOU, category="loan")
    others += await insert_cases(session, count=4, courts=NINGBO, category="wages")
    others += await insert_cases(session, count=3, courts=HANGZHOU, category="wages", status="terminated")
    creator = staff("330100")
    campaign = await create_campaign(session, court_directory, creator=creator, livelihood=True)
    campaign, started = await service.start_dispatch(
        session, campaign_id=campaign.id, actor=creator, directory=court_directory
    )
    assert started and campaign.status == CampaignStatus.dispatching and campaign.total == 23
    assert campaign.dispatch_job_id == f"campaign:{campaign.id}:dispatch"

    outcomes = await drain_dispatch(session, campaign)

    assert [o.cases for o in outcomes] == [7, 7, 7, 2, 0]
    assert await _tasks(session, campaign.id) == matching
    await session.refresh(campaign)
    assert (campaign.status, campaign.done, campaign.total) == (CampaignStatus.active, 23, 23)
    priorities = dict(
        (
            await session.execute(
                sa.select(_CASE.c.id, _CASE.c.priority).where(_CASE.c.id.in_(matching + others))
            )
        ).all()
    )
    assert {priorities[i] for i in matching} == {"high"}
    assert {priorities[i] for i in others} == {"normal"}


async def test_each_court_is_notified_once_and_progress_is_reported(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    await insert_cases(session, count=20, courts=HANGZHOU, category="wages")
    creator = staff("330100")
    campaign = await create_campaign(session, court_directory, creator=creator, livelihood=True)
    campaign, _ = await service.start_dispatch(
        session, campaign_id=campaign.id, actor=creator, directory=court_directory
    )
    await drain_dispatch(session, campaign, batch_size=3)

    notices = (
        (
            await session.execute(
                sa.select(CampaignCourtNotice.court_code).where(
                    CampaignCourtNotice.campaign_id == campaign.id
                )
            )
        )
        .scalars()
        .all()
    )
    assert sorted(notices) == HANGZHOU
    notified = [
        e
        for e in await _events(session, name="campaign:court_notified", room_like="court:%")
        if e.payload["campaign_id"] == campaign.id
    ]
    assert sorted(e.room for e in notified) == [f"court:{c}" for c in HANGZHOU]
    progress = await _events(session, name="campaign:progress", room_like=f"campaign:{campaign.id}")
    done = [e.payload["done"] for e in progress]
    assert done == sorted(done) and done[0] == 3 and done[-1] == 20
    assert {e.payload["total"] for e in progress} == {20}
    assert [e.seq for e in progress] == sorted(e.seq for e in progress)
    dispatched = await _events(session, name="campaign:dispatched", room_like=f"campaign:{campaign.id}")
    assert [(e.payload["done"], e.payload["total"]) for e in dispatched] == [(20, 20)]


async def test_redispatching_creates_nothing_new_and_notifies_no_court_twice(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    await insert_cases(session, count=10, courts=HANGZHOU, category="wages")
    creator = staff("330100")
    campaign = await create_campaign(session, court_directory, creator=creator, livelihood=True)
    campaign, _ = await service.start_dispatch(
        session, campaign_id=campaign.id, actor=creator, directory=court_directory
    )
    await drain_dispatch(session, campaign)
    before = await _tasks(session, campaign.id)

    campaign, started = await service.start_dispatch(
        session, campaign_id=campaign.id, actor=creator, directory=court_directory
    )
    assert started and campaign.dispatch_job_id == f"campaign:{campaign.id}:dispatch:2"
    outcomes = await drain_dispatch(session, campaign)

    assert sum(o.tasks_created for o in outcomes) == 0
    assert sum(o.courts_notified for o in outcomes) == 0
    assert await _tasks(session, campaign.id) == before
    await session.refresh(campaign)
    assert (campaign.status, campaign.done, campaign.total) == (CampaignStatus.active, 10, 10)


async def test_a_retried_dispatch_request_does_not_restart_the_running_dispatch(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    await insert_cases(session, count=10, courts=HANGZHOU, category="wages")
    creator = staff("330100")
    campaign = await create_campaign(session, court_directory, creator=creator, livelihood=True)
    campaign, _ = await service.start_dispatch(
        session, campaign_id=campaign.id, actor=creator, directory=court_directory
    )
    await dispatch.dispatch_batch(
        session, campaign_id=campaign.id, job_id=campaign.dispatch_job_id, batch_size=4
    )

    again, started = await service.start_dispatch(
        session, campaign_id=campaign.id, actor=creator, directory=court_directory
    )

    assert not started and again.done == 4 and again.dispatch_job_id == f"campaign:{campaign.id}:dispatch"


async def test_dispatch_resumes_after_its_checkpoint(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    matching = await insert_cases(session, count=25, courts=HANGZHOU, category="wages")
    creator = staff("330100")
    campaign = await create_campaign(session, court_directory, creator=creator, livelihood=True)
    campaign, _ = await service.start_dispatch(
        session, campaign_id=campaign.id, actor=creator, directory=court_directory
    )
    for _ in range(2):
        await dispatch.dispatch_batch(
            session, campaign_id=campaign.id, job_id=campaign.dispatch_job_id, batch_size=6
        )
    await session.refresh(campaign)
    assert (campaign.done, campaign.checkpoint) == (12, matching[11])

    # A job taking over (as after its worker died) continues after the checkpoint.
    job_id = await dispatch.take_over(session, campaign_id=campaign.id, stale_job_id=campaign.dispatch_job_id)
    assert job_id == f"campaign:{campaign.id}:dispatch:2"
    await session.refresh(campaign)
    outcomes = await drain_dispatch(session, campaign, batch_size=6)

    assert [o.cases for o in outcomes] == [6, 6, 1, 0]
    assert await _tasks(session, campaign.id) == matching


async def test_a_superseded_dispatch_job_changes_nothing(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    await insert_cases(session, count=10, courts=HANGZHOU, category="wages")
    creator = staff("330100")
    campaign = await create_campaign(session, court_directory, creator=creator, livelihood=True)
    campaign, _ = await service.start_dispatch(
        session, campaign_id=campaign.id, actor=creator, directory=court_directory
    )
    old = campaign.dispatch_job_id
    assert await dispatch.take_over(session, campaign_id=campaign.id, stale_job_id=old) is not None
    assert await dispatch.take_over(session, campaign_id=campaign.id, stale_job_id=old) is None  # once only

    outcome = await dispatch.dispatch_batch(session, campaign_id=campaign.id, job_id=old, batch_size=100)

    assert outcome.stopped == "superseded" and not outcome.more
    assert await _tasks(session, campaign.id) == []


async def test_cancel_stops_the_dispatch_before_its_next_batch(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    await insert_cases(session, count=30, courts=HANGZHOU, category="wages")
    creator = staff("330100")
    campaign = await create_campaign(session, court_directory, creator=creator, livelihood=True)
    campaign, _ = await service.start_dispatch(
        session, campaign_id=campaign.id, actor=creator, directory=court_directory
    )
    await dispatch.dispatch_batch(
        session, campaign_id=campaign.id, job_id=campaign.dispatch_job_id, batch_size=10
    )

    cancelled = await service.cancel(
        session, campaign_id=campaign.id, actor=creator, directory=court_directory
    )
    outcome = await dispatch.dispatch_batch(
        session, campaign_id=campaign.id, job_id=cancelled.dispatch_job_id, batch_size=10
    )

    assert cancelled.status == CampaignStatus.cancelled and cancelled.done == 10
    assert outcome.stopped == "cancelled" and not outcome.more
    assert len(await _tasks(session, campaign.id)) == 10
    with pytest.raises(Conflict):
        await service.start_dispatch(
            session, campaign_id=campaign.id, actor=creator, directory=court_directory
        )


async def test_only_command_staff_over_the_creator_may_manage(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    campaign = await create_campaign(session, court_directory, creator=staff("330100"), livelihood=True)
    assert service.can_manage(staff("330000"), campaign, court_directory)  # the superior's command center
    assert not service.can_manage(staff("330106"), campaign, court_directory)  # a subordinate court
    assert not service.can_manage(staff("330100", "officer"), campaign, court_directory)
    with pytest.raises(Forbidden):
        await service.start_dispatch(
            session, campaign_id=campaign.id, actor=staff("330100", "clerk"), directory=court_directory
        )


async def test_a_campaign_is_visible_to_its_creators_scope_and_to_the_courts_it_reached(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    await insert_cases(session, count=4, courts=["330106"], category="wages")
    creator = staff("330100")
    campaign = await create_campaign(session, court_directory, creator=creator, livelihood=True)

    async def visible(principal) -> bool:
        found, _ = await service.list_visible(
            session, principal=principal, directory=court_directory, limit=200
        )
        listed = campaign.id in [c.id for c in found]
        assert listed == await service.can_see(
            session, principal=principal, campaign=campaign, directory=court_directory
        )
        return listed

    assert (
        await visible(staff("330100")) and await visible(staff("330000")) and await visible(staff("000000"))
    )
    assert not await visible(staff("330106", "clerk"))  # a draft is the command center's own
    assert not await visible(staff("330200"))

    campaign, _ = await service.start_dispatch(
        session, campaign_id=campaign.id, actor=creator, directory=court_directory
    )
    await drain_dispatch(session, campaign)

    assert await visible(staff("330106", "clerk")) and await visible(staff("330106", kind="token"))
    assert not await visible(staff("330102", "clerk"))  # reached no case there
    assert not await visible(staff("330200"))


async def test_dispatch_of_a_campaign_whose_window_ended_is_refused(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    creator = staff("330100")
    campaign = await create_campaign(session, court_directory, creator=creator, livelihood=True)
    with pytest.raises(Conflict):
        await service.start_dispatch(
            session,
            campaign_id=campaign.id,
            actor=creator,
            directory=court_directory,
            today=campaign.window_end + timedelta(days=1),
        )


async def test_creating_records_the_campaign_and_an_event_for_the_creators_court(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    campaign = await create_campaign(session, court_directory, creator=staff("330100"), livelihood=True)
    stored = await session.get(Campaign, campaign.id)
    assert stored.status == CampaignStatus.draft and stored.target_courts == sorted(
        court_directory.subtree_codes("330100")
    )
    created = await _events(session, name="campaign:created", room_like="court:330100")
    assert created[-1].payload["campaign_id"] == campaign.id
