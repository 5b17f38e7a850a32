"""Submitting a request: routing, the statutory clocks, audit and outbox in one transaction, and the
pre-flight checks that refuse a bad request before anything is written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from assistance.enums import CaseStatus, DeadlineKind, DeadlineState, RequestStatus, Urgency
from assistance.requests import intake
from assistance.requests.deadlines import list_deadlines
from assistance.requests.models import AssistanceRequest, Deadline
from assistance.requests.schemas import RequestCreate
from command_center.audit.models import AuditEntry
from command_center.calendar.periods import SHANGHAI
from command_center.errors import Forbidden, InvalidInput
from command_center.outbox.models import OutboxEvent
from tests.assistance.requests.conftest import REQUESTER, SUPERVISOR, TARGET, request_body


async def _count(session: Any, model: Any, *conditions: Any) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(model).where(*conditions)) or 0)


async def test_new_request_is_routed_to_the_court_of_the_location_under_the_common_superior(
    submit: Any, session: Any
) -> None:
    request = await submit()

    assert request.status == RequestStatus.routed
    assert request.version == 1
    assert (request.requesting_court, request.target_court, request.supervising_court) == (
        REQUESTER,
        TARGET,
        SUPERVISOR,
    )
    assert request.routed_on == date(2026, 3, 10)
    assert request.urgency == Urgency.normal


async def test_new_request_across_provinces_is_supervised_by_the_supreme_court(submit: Any) -> None:
    request = await submit(location={"region_code": "110105", "address": "北京市朝阳区建国路1号"})
    assert (request.target_court, request.supervising_court) == ("110105", "000000")


async def test_request_routed_before_spring_festival_is_due_to_file_after_the_holiday(
    submit: Any, session: Any
) -> None:
    # 2026-02-12 + 7 days = 02-19, inside the Spring Festival holiday (02-15 to 02-23): the period ends
    # on the first working day after it, 02-24 (Civil Code art. 203). R + 15 = 02-27 is a working
    # Friday; R + 30 = 03-14 is a Saturday, so the report is due Monday 03-16.
    request = await submit(now=datetime(2026, 2, 12, 9, 30, tzinfo=SHANGHAI))

    rows = await list_deadlines(session, subject_type="request", subject_id=request.id)
    due = {row.kind: row for row in rows}
    assert {kind: row.due_on for kind, row in due.items()} == {
        DeadlineKind.file: date(2026, 2, 24),
        DeadlineKind.start: date(2026, 2, 27),
        DeadlineKind.report: date(2026, 3, 16),
    }
    assert all(row.state == DeadlineState.pending and row.started_on == date(2026, 2, 12) for row in rows)
    assert all(not row.provisional for row in rows)
    # 24:00 Asia/Shanghai of the last day, stored as a UTC instant.
    assert due[DeadlineKind.file].ends_at == datetime(2026, 2, 24, 16, 0, tzinfo=UTC)
    assert "法释〔2011〕11号" in due[DeadlineKind.file].rule
    assert "Civil Procedure Law" in due[DeadlineKind.start].rule


async def test_request_routed_late_in_the_evening_counts_from_the_shanghai_date(
    submit: Any, session: Any
) -> None:
    # 2026-03-10 23:30 in Shanghai is 15:30 UTC: the request is routed on the 10th, not the 9th.
    request = await submit(now=datetime(2026, 3, 10, 15, 30, tzinfo=UTC))
    assert request.routed_on == date(2026, 3, 10)


async def test_deadlines_in_a_year_without_an_official_schedule_are_provisional(
    submit: Any, session: Any
) -> None:
    request = await submit(now=datetime(2030, 12, 20, 10, tzinfo=SHANGHAI))
    rows = await list_deadlines(session, subject_type="request", subject_id=request.id)
    assert {row.kind for row in rows if row.provisional} == {
        DeadlineKind.file,
        DeadlineKind.start,
        DeadlineKind.report,
    }


async def test_submission_writes_audit_entry_and_routed_event_in_the_same_transaction(
    submit: Any, session: Any
) -> None:
    request = await submit()

    entries = (
        (
            await session.execute(
                sa.select(AuditEntry).where(
                    AuditEntry.subject_type == "assistance_request", AuditEntry.subject_id == str(request.id)
                )
            )
        )
        .scalars()
        .all()
    )
    assert [e.action for e in entries] == ["assistance.submitted"]
    assert entries[0].details["routed"]["target_court"] == TARGET
    assert entries[0].details["routed"]["supervising_court"] == SUPERVISOR
    events = (
        (await session.execute(sa.select(OutboxEvent).where(OutboxEvent.room == f"request:{request.id}")))
        .scalars()
        .all()
    )
    assert [e.name for e in events] == ["assistance:routed"]
    assert events[0].payload["status"] == "routed"
    assert events[0].payload["target_court"] == TARGET


async def test_renewal_with_less_than_a_month_left_is_made_urgent(submit: Any) -> None:
    # Routed 2026-03-10; one month later is 04-10 (a Friday): a freeze expiring 04-09 has less left.
    request = await submit(
        matter_type="renew_freeze",
        materials=["ruling", "assistance_notice", "freeze_ruling_previous"],
        current_freeze_expires_on="2026-04-09",
    )
    assert request.urgency == Urgency.urgent


async def test_renewal_with_more_than_a_month_left_keeps_its_urgency(submit: Any) -> None:
    request = await submit(
        matter_type="renew_freeze",
        materials=["ruling", "assistance_notice", "freeze_ruling_previous"],
        current_freeze_expires_on="2026-05-20",
    )
    assert request.urgency == Urgency.normal
    assert request.current_freeze_expires_on == date(2026, 5, 20)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subject_id": "applicant"}, "subject_id"),
        ({"subject_id": "other_case"}, "subject_id"),
        ({"materials": ["ruling"]}, "materials"),
        ({"materials": ["ruling", "assistance_notice", "passport_copy"]}, "materials"),
        ({"location": {"region_code": "330106", "address": "西湖区"}}, "location.region_code"),
        ({"location": {"region_code": "339999", "address": "不存在"}}, "location.region_code"),
        ({"location": {"region_code": "33A102", "address": "格式错误"}}, "location.region_code"),
        (
            {
                "matter_type": "renew_freeze",
                "materials": ["ruling", "assistance_notice", "freeze_ruling_previous"],
            },
            "current_freeze_expires_on",
        ),
        (
            {
                "matter_type": "renew_freeze",
                "materials": ["ruling", "assistance_notice", "freeze_ruling_previous"],
                "current_freeze_expires_on": "2026-03-09",
            },
            "current_freeze_expires_on",
        ),
        ({"current_freeze_expires_on": "2026-05-01"}, "current_freeze_expires_on"),
        ({"matter_type": "renew_freeze", "current_freeze_expires_on": "2026-05-01"}, "materials"),
    ],
)
async def test_invalid_request_is_refused_naming_the_field_and_nothing_is_written(
    overrides: dict[str, Any],
    field: str,
    test_db: Any,
    make_case: Any,
    court_directory: Any,
    legal_calendar: Any,
    principal_of: Any,
    session: Any,
) -> None:
    case = await make_case(REQUESTER, respondents=1)
    other = await make_case(REQUESTER, respondents=1)
    if overrides.get("subject_id") == "applicant":
        overrides["subject_id"] = case.applicant.id
    elif overrides.get("subject_id") == "other_case":
        overrides["subject_id"] = other.respondents[0].id
    before = {
        model: await _count(session, model)
        for model in (AssistanceRequest, Deadline, AuditEntry, OutboxEvent)
    }

    with pytest.raises(InvalidInput) as caught:
        async with test_db.unit_of_work() as s:
            await intake.create_request(
                s,
                principal=principal_of(REQUESTER),
                directory=court_directory,
                calendar=legal_calendar,
                data=RequestCreate.model_validate(request_body(case, **overrides)),
                now=datetime(2026, 3, 10, 10, tzinfo=SHANGHAI),
            )

    assert field in [problem["field"] for problem in caught.value.details]
    after = {model: await _count(session, model) for model in before}
    assert after == before


async def test_request_on_an_unknown_case_is_refused_naming_case_id(submit: Any, make_case: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        await submit(case=await make_case(REQUESTER), case_id=999_999_999)
    assert caught.value.details[0]["field"] == "case_id"


async def test_request_on_a_closed_case_is_refused(submit: Any, make_case: Any, session: Any) -> None:
    case = await make_case(REQUESTER)
    await session.execute(
        sa.update(case.case.__class__)
        .where(case.case.__class__.id == case.case.id)
        .values(status=CaseStatus.concluded)
    )
    await session.commit()
    with pytest.raises(InvalidInput) as caught:
        await submit(case=case)
    assert caught.value.details[0]["field"] == "case_id"


async def test_only_the_filing_court_may_request_assistance_on_its_case(
    submit: Any, make_case: Any, principal_of: Any
) -> None:
    case = await make_case(REQUESTER)
    with pytest.raises(Forbidden):
        await submit(case=case, principal=principal_of(TARGET, "clerk"))


@pytest.mark.parametrize("role", ["command_staff", "admin"])
async def test_command_staff_and_admins_do_not_submit_requests(
    role: str, submit: Any, principal_of: Any
) -> None:
    with pytest.raises(Forbidden):
        await submit(principal=principal_of(REQUESTER, role))


async def test_court_system_token_and_officer_may_submit(submit: Any, principal_of: Any) -> None:
    by_token = await submit(principal=principal_of(REQUESTER, kind="token"))
    by_officer = await submit(principal=principal_of(REQUESTER, "officer"))
    assert by_token.created_by.startswith("token:")
    assert by_officer.status == RequestStatus.routed


async def test_duplicate_materials_are_stored_once(submit: Any) -> None:
    request = await submit(materials=["ruling", "assistance_notice", "ruling", "property_clue"])
    assert request.materials == ["ruling", "assistance_notice", "property_clue"]


def test_freeze_expiring_exactly_one_month_ahead_is_not_urgent(legal_calendar: Any) -> None:
    from assistance.requests.materials import freeze_needs_urgency

    today = date(2026, 3, 10)
    assert not freeze_needs_urgency(legal_calendar, today=today, expires_on=date(2026, 4, 10))
    assert freeze_needs_urgency(legal_calendar, today=today, expires_on=date(2026, 4, 10) - timedelta(days=1))
