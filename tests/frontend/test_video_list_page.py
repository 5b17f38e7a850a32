"""The video consultations page: the list for everyone, the opening form for command staff."""

from __future__ import annotations

from typing import Any

from tests.frontend.test_pages import assert_csp_clean


async def test_command_staff_get_the_list_and_the_form_to_open_a_session(make_user: Any, login: Any) -> None:
    staff = await login(await make_user("command_staff", "330100"))
    page = await staff.get("/video", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    assert "视频会商" in page.text and "发起会商" in page.text
    assert 'id="session-form"' in page.text and "/static/js/video-list.js" in page.text
    assert_csp_clean(page.text)


async def test_officers_get_the_list_without_the_form(make_user: Any, login: Any) -> None:
    officer = await login(await make_user("officer", "330106"))
    page = await officer.get("/video", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "Video consultations" in page.text and 'id="session-form"' not in page.text


async def test_a_session_opened_by_command_staff_is_listed_for_its_invitee(make_user: Any, login: Any) -> None:
    officer_user = await make_user("officer", "330106")
    staff = await login(await make_user("command_staff", "330100"))
    created = await staff.post(
        "/api/v1/video-sessions", json={"topic": "现场查封指导", "invitees": [officer_user.id]}
    )
    assert created.status_code == 201, created.text
    officer = await login(officer_user)
    listed = (await officer.get("/api/v1/video-sessions")).json()["items"]
    assert [s["topic"] for s in listed] == ["现场查封指导"]
