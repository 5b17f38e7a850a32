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


async def test_a_session_opened_by_command_staff_is_listed_for_its_invitee(
    make_user: Any, login: Any
) -> None:
    officer_user = await make_user("officer", "330106")
    staff = await login(await make_user("command_staff", "330100"))
    created = await staff.post(
        "/api/v1/video-sessions", json={"topic": "现场查封指导", "invitees": [officer_user.id]}
    )
    assert created.status_code == 201, created.text
    officer = await login(officer_user)
    listed = (await officer.get("/api/v1/video-sessions")).json()["items"]
    assert [s["topic"] for s in listed] == ["现场查封指导"]


async def test_the_room_page_is_in_the_pages_layout_and_language(make_user: Any, login: Any) -> None:
    from tests.frontend.test_main_pages import client_strings

    officer_user = await make_user("officer", "330106")
    staff = await login(await make_user("command_staff", "330100"))
    created = await staff.post(
        "/api/v1/video-sessions", json={"topic": "现场查封指导", "invitees": [officer_user.id]}
    )
    session_id = created.json()["id"]
    officer = await login(officer_user)
    zh = await officer.get(f"/video/{session_id}", headers={"Accept-Language": "zh-CN"})
    en = await officer.get(f"/video/{session_id}", headers={"Accept-Language": "en"})
    for page, lobby, mute in ((zh, "等候室", "静音"), (en, "Lobby", "Mute")):
        assert page.status_code == 200
        assert "现场查封指导" in page.text and lobby in page.text
        assert 'class="site-header"' in page.text  # the app's header and navigation
        assert (
            f'data-session-id="{session_id}"' in page.text
            and f'data-user-id="{officer_user.id}"' in page.text
        )
        assert client_strings(page.text)["room.mute"] == mute
        assert_csp_clean(page.text)
    assert client_strings(en.text)["room.reconnecting"] == "Reconnecting"
    assert '<meta name="csrf-token" content=""' not in zh.text


async def test_a_room_the_visitor_may_not_see_is_a_404_page(make_user: Any, login: Any) -> None:
    staff = await login(await make_user("command_staff", "330100"))
    session_id = (await staff.post("/api/v1/video-sessions", json={"topic": "会商"})).json()["id"]
    stranger = await login(await make_user("officer", "110105"))
    page = await stranger.get(f"/video/{session_id}", headers={"Accept-Language": "en"})
    assert page.status_code == 404 and "No such video session" in page.text
    assert "/static/video/room.js" not in page.text
