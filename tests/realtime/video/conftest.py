"""Fixtures for video sessions: people in three courts, a linked case and request, the app with /video."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from assistance.cases.models import CaseParty, EnforcementCase
from assistance.enums import CaseCategory, MatterType, PartyKind, PartyRole, RequestStatus, Urgency
from assistance.requests.models import AssistanceRequest

HIGH = "330000"  # Zhejiang High Court: its command center supervises the province
BASIC = "330106"  # Xihu District Court, Hangzhou
OTHER_PROVINCE = "440106"  # a basic court in Guangdong


@pytest.fixture
def video_app(app: Any) -> Any:
    from realtime.video import install

    install(app)
    return app


@pytest.fixture
async def people(make_user: Any) -> dict[str, Any]:
    return {
        "host": await make_user("command_staff", HIGH),
        "officer": await make_user("officer", BASIC),
        "officer2": await make_user("officer", BASIC),
        "stranger": await make_user("officer", OTHER_PROVINCE),
        "far_staff": await make_user("command_staff", OTHER_PROVINCE),
        "basic_staff": await make_user("command_staff", BASIC),
    }


@pytest.fixture
async def linked_request(services: Any) -> AssistanceRequest:
    """A request from Xihu to a Guangdong court, supervised by the Supreme People's Court."""
    async with services.db.unit_of_work() as s:
        case = EnforcementCase(
            case_number="(2026)浙0106执1号",
            court_code=BASIC,
            category=CaseCategory.wages,
            amount_claimed=100_000,
            filed_on=date(2026, 1, 5),
            created_by="user:test",
        )
        s.add(case)
        await s.flush()
        party = CaseParty(
            case_id=case.id,
            role=PartyRole.respondent,
            name="某公司",
            kind=PartyKind.organization,
            id_number="91330106MA27XXXX1X",
        )
        s.add(party)
        await s.flush()
        request = AssistanceRequest(
            case_id=case.id,
            requesting_court=BASIC,
            target_court=OTHER_PROVINCE,
            supervising_court=services.directory.supreme.code,
            matter_type=MatterType.investigate_property,
            subject_id=party.id,
            region_code=OTHER_PROVINCE,
            address="广州市天河区某路1号",
            urgency=Urgency.normal,
            description="查询存款",
            materials=[],
            status=RequestStatus.routed,
            created_by="user:test",
            routed_on=date(2026, 1, 6),
        )
        s.add(request)
        await s.flush()
        return request
