"""The pages over HTTP: sign-in redirects, role homes, both languages, the CSRF meta and the CSP rules."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline_handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))
        self.inline_handlers += [f"{tag} {name}" for name, _ in attrs if name.startswith("on")]


def assert_csp_clean(html: str) -> None:
    """Every script is a same-origin file or a JSON data element; no inline handlers (script-src 'self')."""
    parser = _Scripts()
    parser.feed(html)
    assert parser.scripts
    for script in parser.scripts:
        if script.get("type") == "application/json":
            continue
        assert (script.get("src") or "").startswith("/static/"), script
    assert parser.inline_handlers == []
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html


def meta_csrf(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]*)">', html)
    assert match
    return match.group(1)


async def test_the_sign_in_page_is_chinese_when_the_browser_prefers_chinese(client: Any) -> None:
    response = await client.get("/sign-in", headers=ZH)
    assert response.status_code == 200
    assert '<html lang="zh-CN">' in response.text
    assert "登录" in response.text and "执行指挥中心" in response.text
    assert response.headers["content-language"] == "zh-CN"
    assert response.headers["cache-control"] == "no-store"
    assert_csp_clean(response.text)


async def test_the_sign_in_page_is_english_when_the_browser_prefers_english(client: Any) -> None:
    response = await client.get("/sign-in", headers=EN)
    assert '<html lang="en">' in response.text
    assert "Sign in" in response.text and "Enforcement Command Center" in response.text
    assert "登录" not in response.text


@pytest.mark.parametrize("accept_language", [None, "", "fr-FR,de;q=0.8", "*"])
async def test_the_pages_are_chinese_without_a_chinese_or_english_preference(
    client: Any, accept_language: str | None
) -> None:
    headers = {} if accept_language is None else {"Accept-Language": accept_language}
    response = await client.get("/sign-in", headers=headers)
    assert '<html lang="zh-CN">' in response.text


async def test_the_language_switch_sets_a_cookie_that_wins_over_the_browser(client: Any) -> None:
    switched = await client.get("/language/en?next=/sign-in%3Fnext%3D/admin", headers=ZH)
    assert switched.status_code == 303
    assert switched.headers["location"] == "/sign-in?next=/admin"
    assert "cc_lang=en" in switched.headers["set-cookie"]
    response = await client.get("/sign-in", headers=ZH)
    assert '<html lang="en">' in response.text
    await client.get("/language/zh_Hans?next=/sign-in")
    assert '<html lang="zh-CN">' in (await client.get("/sign-in", headers=EN)).text


async def test_the_language_switch_goes_nowhere_but_this_site(client: Any) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        response = await client.get("/language/en", params={"next": target})
        assert response.status_code == 303 and response.headers["location"] == "/"
    unknown = await client.get("/language/fr?next=/sign-in")
    assert unknown.headers["location"] == "/sign-in" and "set-cookie" not in unknown.headers


async def test_pages_send_an_anonymous_visitor_to_sign_in_and_back(client: Any) -> None:
    root = await client.get("/")
    assert root.status_code == 303 and root.headers["location"] == "/sign-in"
    admin = await client.get("/admin?tab=users")
    assert admin.status_code == 303
    assert admin.headers["location"] == "/sign-in?next=/admin%3Ftab%3Dusers"
    page = await client.get(admin.headers["location"])
    assert 'data-next="/admin?tab=users"' in page.text


async def test_sign_in_ignores_a_next_that_leaves_the_site(client: Any) -> None:
    for target in ("https://evil.example/", "//evil.example", "/\\evil.example", "/ok\r\nSet-Cookie: x"):
        page = await client.get("/sign-in", params={"next": target})
        assert 'data-next=""' in page.text


@pytest.mark.parametrize(
    ("role", "home"),
    [
        ("admin", "/admin"),
        ("command_staff", "/dashboard"),
        ("officer", "/workspace"),
        ("clerk", "/workspace"),
    ],
)
async def test_the_root_sends_each_role_to_its_home_page(
    login: Any, make_user: Any, role: str, home: str
) -> None:
    browser = await login(await make_user(role, "330106"))
    response = await browser.get("/")
    assert response.status_code == 303 and response.headers["location"] == home
    page = await browser.get(home, headers=ZH)
    assert page.status_code == 200
    assert_csp_clean(page.text)


async def test_a_signed_in_visitor_skips_the_sign_in_page(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("clerk", "330106"))
    assert (await browser.get("/sign-in")).headers["location"] == "/workspace"
    assert (await browser.get("/sign-in?next=/video")).headers["location"] == "/video"
    assert (await browser.get("/sign-in?next=//evil.example")).headers["location"] == "/workspace"


async def test_the_page_carries_the_sessions_csrf_token(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("admin", "330106"))
    page = await browser.get("/admin")
    assert meta_csrf(page.text) == browser.headers["X-CSRF-Token"]
    anonymous_page = await browser.get("/sign-in?next=/x")  # redirected: signed in
    assert anonymous_page.status_code == 303


async def test_the_header_shows_the_court_the_user_and_the_navigation_of_the_role(
    login: Any, make_user: Any
) -> None:
    staff = await login(await make_user("command_staff", "330100", display_name="值班员甲"))
    page = (await staff.get("/dashboard", headers=ZH)).text
    assert "杭州市中级人民法院" in page and "值班员甲" in page and "指挥中心值班员" in page
    assert 'href="/dashboard" aria-current="page"' in page
    assert 'href="/campaigns"' in page and 'href="/video"' in page
    assert 'href="/workspace"' not in page and 'href="/admin"' not in page
    assert 'id="notification-tray"' in page

    clerk = await login(await make_user("clerk", "330106"))
    page = (await clerk.get("/workspace", headers=EN)).text
    assert "Workspace" in page and "Clerk" in page
    assert 'href="/dashboard"' not in page and 'href="/campaigns"' not in page


async def test_a_page_outside_the_role_is_a_403_page_and_audited(
    login: Any, make_user: Any, services: Any
) -> None:
    from sqlalchemy import select

    from command_center.audit.models import AuditEntry

    clerk = await login(await make_user("clerk", "330106"))
    response = await clerk.get("/admin", headers=ZH)
    assert response.status_code == 403
    assert "无权访问" in response.text and 'href="/workspace"' in response.text
    async with services.db.unit_of_work() as s:
        denied = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "access.denied"))).all()
    assert [e.subject_id for e in denied] == ["GET /admin"]


async def test_a_signed_out_session_is_sent_to_sign_in_again(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("admin", "330106"))
    stale = browser.cookies["cc_session"]
    assert (await browser.delete("/api/v1/session")).status_code == 204
    # The response cleared the cookie; a copy kept from before must not open a page either.
    browser.cookies.set("cc_session", stale)
    response = await browser.get("/admin")
    assert response.status_code == 303 and response.headers["location"].startswith("/sign-in")


async def test_the_admin_page_renders_in_both_languages(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("admin", "000000"))
    zh = (await browser.get("/admin", headers=ZH)).text
    en = (await browser.get("/admin", headers=EN)).text
    assert "系统管理" in zh and "接口令牌" in zh and "校验审计链" in zh and "加载新公布的年度安排" in zh
    assert "Administration" in en and "API tokens" in en and "Verify the audit chain" in en
    assert 'data-spc="true"' in zh
    assert_csp_clean(zh)
    assert_csp_clean(en)


async def test_a_court_admin_sees_no_calendar_upload_or_court_picker(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("admin", "330106"))
    page = (await browser.get("/admin", headers=EN)).text
    assert 'data-spc="false"' in page and "杭州市西湖区人民法院" in page
    assert 'id="calendar-load"' not in page and 'id="user-filter-court"' not in page


async def test_client_strings_are_json_in_the_pages_language(client: Any) -> None:
    import json

    page = (await client.get("/sign-in", headers=ZH)).text
    blocks = re.findall(r'<script type="application/json" data-i18n>(.*?)</script>', page, re.DOTALL)
    strings: dict[str, str] = {}
    for block in blocks:
        strings.update(json.loads(block))
    assert strings["signin.wrong"] == "用户名或密码错误。"
    assert strings["error.network"].startswith("无法连接服务器")


@pytest.mark.parametrize(
    "path",
    [
        "/static/css/app.css",
        "/static/js/api.js",
        "/static/js/i18n.js",
        "/static/js/admin.js",
        "/static/js/sign-in.js",
        "/static/js/shell.js",
        "/static/img/emblem.svg",
    ],
)
async def test_the_assets_are_served_from_this_origin(client: Any, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200 and response.content


async def test_the_language_switch_returns_to_the_same_address_with_its_query(client: Any) -> None:
    page = (await client.get("/sign-in", params={"next": "/admin?tab=users&page=2"})).text
    link = re.search(r'href="(/language/en\?next=[^"]*)"', page)
    assert link and "&" not in link.group(1)
    back = await client.get(link.group(1).replace("&amp;", "&"))
    assert back.headers["location"] == "/sign-in?next=%2Fadmin%3Ftab%3Dusers%26page%3D2"
    again = await client.get(back.headers["location"])
    assert 'data-next="/admin?tab=users&amp;page=2"' in again.text
