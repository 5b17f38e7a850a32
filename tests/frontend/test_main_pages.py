"""The workspace, request and dashboard pages over HTTP, and the dashboard's summary endpoint."""

from __future__ import annotations

import json
import re
from datetime import date
from itertools import count
from typing import Any

import pytest

from assistance.cases.identities import make_case_number, make_credit_code, make_resident_id
from tests.frontend.test_pages import EN, ZH, assert_csp_clean

_serial = count(1)


def client_strings(html: str) -> dict[str, str]:
    """Every client string the page renders for its scripts (the JSON data elements merged)."""
    strings: dict[str, str] = {}
    for block in re.findall(r'<script type="application/json" data-i18n>(.*?)</script>', html, re.DOTALL):
        strings.update(json.loads(block))
    return strings


async def submit_request(clerk: Any, *, target_region: str = "330105") -> dict[str, Any]:
    """A case of 330106 and an investigate-property request on it, through the API."""
    serial = next(_serial)
    case = await clerk.post(
        "/api/v1/cases",
        json={
            "case_number": make_case_number("浙0106", 2026, 60000 + serial),
            "category": "wages",
            "applicant": {
                "name": "李四",
                "kind": "person",
                "id_number": make_resident_id("330106", date(1980, 1, 1), serial),
            },
            "respondents": [
                {
                    "name": "某公司",
                    "kind": "organization",
                    "id_number": make_credit_code(target_region, serial),
                }
            ],
            "amount_claimed": 100_000,
            "filed_on": "2026-03-02",
        },
    )
    assert case.status_code == 201, case.text
    request = await clerk.post(
        "/api/v1/assistance-requests",
        json={
            "case_id": case.json()["id"],
            "matter_type": "investigate_property",
            "subject_id": case.json()["respondents"][0]["id"],
            "location": {"region_code": target_region, "address": "某路1号"},
            "materials": ["commission_letter", "judgment"],
        },
    )
    assert request.status_code == 201, request.text
    return request.json()


@pytest.mark.parametrize(
    ("role", "court", "path", "zh_title", "en_title"),
    [
        ("clerk", "330106", "/workspace", "发起协助请求", "Submit an assistance request"),
        ("officer", "330105", "/workspace", "收到的请求", "Incoming"),
        ("command_staff", "330100", "/dashboard", "按状态统计", "Requests by state"),
        ("clerk", "330106", "/requests/1", "沟通记录", "Messages"),
        ("command_staff", "330100", "/requests/1", "办理经过", "Timeline"),
        ("command_staff", "330100", "/campaigns", "新建专项行动", "New campaign"),
    ],
)
async def test_the_live_pages_render_in_both_languages_with_their_scripts_and_strings(
    login: Any, make_user: Any, role: str, court: str, path: str, zh_title: str, en_title: str
) -> None:
    browser = await login(await make_user(role, court))
    zh = await browser.get(path, headers=ZH)
    assert zh.status_code == 200 and zh_title in zh.text
    assert client_strings(zh.text)["live.reconnecting"] == "重新连接中…"
    en = await browser.get(path, headers=EN)
    assert en.status_code == 200 and en_title in en.text
    assert client_strings(en.text)["live.reconnecting"] == "Reconnecting…"
    for page in (zh.text, en.text):
        assert_csp_clean(page)
        assert '<script src="/static/vendor/socket.io/socket.io.min.js"' in page


@pytest.mark.parametrize(
    ("role", "court", "path"),
    [
        ("command_staff", "330100", "/workspace"),
        ("clerk", "330106", "/dashboard"),
        ("admin", "000000", "/requests/1"),
        ("officer", "330105", "/campaigns"),
    ],
)
async def test_a_live_page_outside_the_role_is_refused(
    login: Any, make_user: Any, role: str, court: str, path: str
) -> None:
    browser = await login(await make_user(role, court))
    assert (await browser.get(path)).status_code == 403


async def test_the_status_filter_lists_every_status_in_the_pages_language(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("officer", "330105"))
    page = (await browser.get("/workspace", headers=ZH)).text
    for code, label in [("routed", "已分派"), ("awaiting_supplement", "待补充材料"), ("withdrawn", "已撤回")]:
        assert f'<option value="{code}">{label}</option>' in page


async def test_the_dashboard_summary_counts_the_supervised_requests_by_status_and_province(
    login: Any, make_user: Any
) -> None:
    clerk = await login(await make_user("clerk", "330106"))
    hangzhou = await login(await make_user("command_staff", "330100"))
    ningbo = await login(await make_user("command_staff", "330200"))
    empty = (await hangzhou.get("/api/v1/dashboard/summary")).json()

    first = await submit_request(clerk)  # to 拱墅 (330105): Hangzhou supervises
    await submit_request(clerk)
    officer = await login(await make_user("officer", "330105"))
    filed = await officer.post(
        f"/api/v1/assistance-requests/{first['id']}/file", json={"version": first["version"]}
    )
    assert filed.status_code == 200, filed.text

    summary = (await hangzhou.get("/api/v1/dashboard/summary")).json()
    assert summary["by_status"]["routed"] == empty["by_status"]["routed"] + 1
    assert summary["by_status"]["filed"] == empty["by_status"]["filed"] + 1
    assert summary["open"] == empty["open"] + 2
    assert summary["overdue"] == 0
    assert set(summary["by_status"]) >= {"submitted", "completed", "withdrawn"}
    zhejiang = next(tile for tile in summary["by_province"] if tile["code"] == "330000")
    assert zhejiang["name"] == "浙江省高级人民法院" and zhejiang["total"] >= 2 and zhejiang["overdue"] == 0

    # Another city's command center supervises none of them.
    assert (await ningbo.get("/api/v1/dashboard/summary")).json()["open"] == 0


async def test_the_dashboard_summary_is_for_signed_in_callers_only(client: Any) -> None:
    assert (await client.get("/api/v1/dashboard/summary")).status_code == 401


async def test_the_workspace_offers_an_address_suggestion_and_the_dashboard_its_live_panels(
    login: Any, make_user: Any
) -> None:
    clerk = await login(await make_user("clerk", "330106"))
    workspace = (await clerk.get("/workspace", headers=EN)).text
    assert 'id="region-suggestion"' in workspace and "Use this region" in workspace
    assert client_strings(workspace)["ws.suggestion"] == "From the address: {region}"
    staff = await login(await make_user("command_staff", "330100"))
    dashboard = (await staff.get("/dashboard", headers=ZH)).text
    assert 'id="video-sessions"' in dashboard and 'id="campaign-progress-list"' in dashboard
    assert "进行中的视频会商" in dashboard
    strings = client_strings(dashboard)
    assert strings["db.join"] == "加入" and strings["video.state.live"] and strings["cp.status.dispatching"]
