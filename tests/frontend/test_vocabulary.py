"""The domain's vocabulary in both languages: matter and material names from the API, and the page
labels of every status, category, deadline, reject reason and timeline action."""

from __future__ import annotations

from typing import Any

import pytest

from assistance.campaigns.enums import CampaignStatus
from assistance.enums import (
    AttachmentPurpose,
    CaseCategory,
    DeadlineKind,
    DeadlineState,
    MatterType,
    RejectReason,
    RequestStatus,
    Urgency,
)
from assistance.requests.lifecycle import TRANSITIONS
from assistance.requests.materials import MATERIALS, MATTERS
from command_center.pages import VOCABULARY
from realtime.video.models import SessionState
from tests.frontend.test_main_pages import client_strings, submit_request
from tests.frontend.test_pages import EN, ZH


@pytest.mark.parametrize(
    ("group", "enum"),
    [
        ("status", RequestStatus),
        ("category", CaseCategory),
        ("deadline", DeadlineKind),
        ("state", DeadlineState),
        ("reject", RejectReason),
        ("urgency", Urgency),
        ("purpose", AttachmentPurpose),
        ("cp.status", CampaignStatus),
        ("video.state", SessionState),
    ],
)
def test_every_code_of_the_domain_has_a_page_label(group: str, enum: Any) -> None:
    assert set(VOCABULARY[group]) == {member.value for member in enum}


def test_every_request_action_has_a_timeline_label() -> None:
    audited = {f"assistance.{t.past_tense}" for t in TRANSITIONS.values()}
    audited |= {"assistance.submitted", "assistance.message_posted", "assistance.attachment_added"}
    assert audited <= set(VOCABULARY["audit"])


def test_every_matter_and_material_has_an_english_name() -> None:
    assert set(MATTERS) == set(MatterType)
    for names in [rule.names for rule in MATTERS.values()] + list(MATERIALS.values()):
        assert names.zh and names.en and names.en.isascii() and not names.zh.isascii()


async def test_the_matters_endpoint_gives_both_names(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("clerk", "330106"))
    body = (await browser.get("/api/v1/assistance-matters")).json()
    freeze = next(m for m in body["matters"] if m["matter_type"] == "freeze_deposits")
    assert (freeze["name"], freeze["name_en"]) == ("冻结存款", "Freeze deposits")
    assert {"code": "ruling", "name": "执行裁定书", "name_en": "Enforcement ruling"} in freeze[
        "required_materials"
    ]
    assert len(body["materials"]) == len(MATERIALS)


async def test_a_request_reads_its_materials_in_both_languages(login: Any, make_user: Any) -> None:
    clerk = await login(await make_user("clerk", "330106"))
    created = await submit_request(clerk)
    assert created["materials"][0] == {
        "code": "commission_letter",
        "name": "委托执行函",
        "name_en": "Letter of commission",
    }


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            ZH,
            {
                "status.awaiting_supplement": "待补充材料",
                "reject.wrong_jurisdiction": "不属本院管辖",
                "audit.assistance.supplement_requested": "要求补充材料",
                "category.wages": "追索劳动报酬",
            },
        ),
        (
            EN,
            {
                "status.awaiting_supplement": "Awaiting supplement",
                "reject.wrong_jurisdiction": "Wrong jurisdiction",
                "audit.assistance.supplement_requested": "Materials asked for",
                "category.wages": "Unpaid wages",
            },
        ),
    ],
)
async def test_every_page_carries_the_vocabulary_in_its_language(
    login: Any, make_user: Any, headers: dict[str, str], expected: dict[str, str]
) -> None:
    browser = await login(await make_user("officer", "330105"))
    strings = client_strings((await browser.get("/workspace", headers=headers)).text)
    assert {key: strings[key] for key in expected} == expected
    assert len([key for key in strings if key.startswith("audit.")]) == len(VOCABULARY["audit"])
