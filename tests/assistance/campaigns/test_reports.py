"""The daily situation report: per court tasks, concluded, amount recovered and overdue; stored once."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.campaigns import reports, service
from assistance.campaigns.enums import CampaignStatus, TaskState
from assistance.campaigns.models import Campaign, CampaignTask
from assistance.cases.models import CaseParty, EnforcementCase
from assistance.requests.models import AssistanceRequest, Deadline
from command_center.courts.directory import CourtDirectory
from command_center.db import utcnow
from command_center.outbox.models import OutboxEvent
from tests.assistance.campaigns.factories import TODAY, create_campaign, drain_dispatch, insert_cases, staff

_CASE = EnforcementCase.__table__


async def _dispatched(session: AsyncSession, directory: CourtDirectory, **criteria) -> Campaign:
    creator = staff("330100")
    campaign = await create_campaign(session, directory, creator=creator, livelihood=True, **criteria)
    campaign, _ = await service.start_dispatch(
        session, campaign_id=campaign.id, actor=creator, directory=directory
    )
    await drain_dispatch(session, campaign, batch_size=50)
    await session.refresh(campaign)
    assert campaign.status == CampaignStatus.active
    return campaign


def _deadline(subject_type: str, subject_id: int, state: str) -> Deadline:
    day = date(2026, 1, 5)
    return Deadline(
        subject_type=subject_type,
        subject_id=subject_id,
        kind="case" if subject_type == "case" else "start",
        started_on=day - timedelta(days=15),
        due_on=day,
        ends_at=datetime(2026, 1, 5, 16, 0, tzinfo=utcnow().tzinfo),
        rule="test",
        state=state,
    )


async def _request_on(session: AsyncSession, case_id: int) -> AssistanceRequest:
    party = CaseParty(
        case_id=case_id, role="respondent", name="李四", kind="person", id_number="110101199003070000"
    )
    session.add(party)
    await session.flush()
    request = AssistanceRequest(
        case_id=case_id,
        requesting_court="330106",
        target_court="320102",
        supervising_court="000000",
        matter_type="investigate_property",
        subject_id=party.id,
        region_code="320102",
        address="南京市玄武区",
        urgency="normal",
        description="查询被执行人财产",
        materials=[],
        status="routed",
        created_by="test",
        routed_on=date(2025, 12, 1),
    )
    session.add(request)
    await session.flush()
    return request


async def _set_case(session: AsyncSession, case_id: int, **values) -> None:
    await session.execute(sa.update(_CASE).where(_CASE.c.id == case_id).values(**values))


async def test_daily_report_counts_tasks_concluded_recovered_and_overdue_per_court(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    xihu = await insert_cases(session, count=4, courts=["330106"], amount_recovered=1_000)
    shangcheng = await insert_cases(session, count=3, courts=["330102"])
    campaign = await _dispatched(session, court_directory)
    # After dispatch: one Xihu case concluded with money recovered, another recovers part;
    # one has missed its own 6-month clock, one has a request that missed its start deadline,
    # and a met deadline counts for nothing.
    await _set_case(session, xihu[0], status="concluded", amount_recovered=501_000)
    await _set_case(session, xihu[1], amount_recovered=21_000)
    session.add(_deadline("case", xihu[2], "missed"))
    session.add(_deadline("case", xihu[3], "met"))
    request = await _request_on(session, shangcheng[0])
    session.add(_deadline("request", request.id, "missed"))
    session.add(_deadline("case", xihu[0], "missed"))  # its case is concluded: not overdue
    await session.flush()

    report = await reports.store_daily(session, campaign_id=campaign.id, report_date=TODAY)

    assert report is not None and report.report_date == TODAY
    rows = {row["court_code"]: row for row in report.data["courts"]}
    assert rows["330106"] == {
        "court_code": "330106",
        "court_name": "杭州市西湖区人民法院",
        "tasks": 4,
        "concluded": 1,
        "amount_recovered": 520_000,
        "overdue": 1,
    }
    assert (
        rows["330102"]["tasks"] == 3 and rows["330102"]["overdue"] == 1 and rows["330102"]["concluded"] == 0
    )
    assert report.data["totals"] == {"tasks": 7, "concluded": 1, "amount_recovered": 520_000, "overdue": 2}
    states = (
        (await session.execute(sa.select(CampaignTask.state).where(CampaignTask.case_id == xihu[0])))
        .scalars()
        .all()
    )
    assert states == [TaskState.concluded]
    ready = (
        (
            await session.execute(
                sa.select(OutboxEvent).where(
                    OutboxEvent.room == f"campaign:{campaign.id}", OutboxEvent.name == "campaign:report_ready"
                )
            )
        )
        .scalars()
        .all()
    )
    assert [e.payload["report_date"] for e in ready] == [TODAY.isoformat()]


async def test_a_days_report_is_stored_and_announced_once(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    await insert_cases(session, count=3, courts=["330106"])
    campaign = await _dispatched(session, court_directory)

    first = await reports.store_daily(session, campaign_id=campaign.id, report_date=TODAY)
    again = await reports.store_daily(session, campaign_id=campaign.id, report_date=TODAY)

    assert first is not None and again is None
    announced = await session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboxEvent)
        .where(OutboxEvent.room == f"campaign:{campaign.id}", OutboxEvent.name == "campaign:report_ready")
    )
    assert announced == 1
    assert (await reports.get_stored(session, campaign_id=campaign.id)).id == first.id


async def test_the_first_report_after_the_window_counts_open_tasks_overdue_and_completes_the_campaign(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    cases = await insert_cases(session, count=5, courts=["330106", "330102"])
    campaign = await _dispatched(session, court_directory)
    await _set_case(session, cases[0], status="terminated")

    during = await reports.store_daily(session, campaign_id=campaign.id, report_date=campaign.window_end)
    after = await reports.store_daily(
        session, campaign_id=campaign.id, report_date=campaign.window_end + timedelta(days=1)
    )

    assert during.data["totals"]["overdue"] == 0
    assert after.data["totals"] == {"tasks": 5, "concluded": 1, "amount_recovered": 0, "overdue": 4}
    await session.refresh(campaign)
    assert campaign.status == CampaignStatus.completed
    later = await reports.store_daily(
        session, campaign_id=campaign.id, report_date=campaign.window_end + timedelta(days=2)
    )
    assert later is None  # a completed campaign has no more daily reports


async def test_the_csv_report_has_a_bom_a_header_a_row_per_court_and_a_total(
    session: AsyncSession, court_directory: CourtDirectory
) -> None:
    await insert_cases(session, count=2, courts=["330106", "330102"], amount_recovered=0)
    campaign = await _dispatched(session, court_directory)
    data = await reports.compute(session, campaign=campaign, report_date=TODAY)

    body = reports.to_csv(data)

    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == list(reports.CSV_HEADER)
    assert rows[1] == ["330102", "杭州市上城区人民法院", "1", "0", "0", "0.00", "0"]
    assert rows[-1] == ["", "合计", "2", "0", "0", "0.00", "0"]
    assert reports._yuan(123_456) == "1234.56" and reports._yuan(-5) == "-0.05"
