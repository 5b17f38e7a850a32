"""Sign-in and the admin page in a real Chromium against a real app node (uvicorn, SQLite, Redis).

Every page is opened with the browser's clock in UTC, so times on the page prove they are rendered in
Beijing time by the page itself. A test fails on any uncaught script error, any Content-Security-Policy
violation and any client string missing from the page's catalog. The screenshots land in
docs/screenshots/<page>-<lang>.png.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from command_center.settings import PROJECT_ROOT
from tests.e2e import second_factor
from tests.e2e.live_app import DEMO_PASSWORD, LOCKOUT_MINUTES, MAX_FAILURES_PER_ACCOUNT

SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
BROWSER_LOCALE = {"zh": "zh-CN", "en": "en-US"}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 780}

expect.set_options(timeout=10_000)


@asynccontextmanager
async def open_page(
    chromium: Any, live_app: Any, *, lang: str = "zh", viewport: dict | None = None
) -> AsyncIterator[Page]:
    """A page in a fresh context (own cookies) whose browser prefers `lang`; fails on script problems."""
    context = await chromium.new_context(
        base_url=live_app.url,
        locale=BROWSER_LOCALE[lang],
        viewport=viewport or DESKTOP,
        timezone_id="UTC",
    )
    page = await context.new_page()
    problems: list[str] = []

    def on_console(message: Any) -> None:
        text = message.text
        csp_or_catalog = "Content Security Policy" in text or "missing client string" in text
        # A 4xx answer logs "Failed to load resource"; the tests provoke those on purpose.
        script_error = message.type == "error" and "Failed to load resource" not in text
        if csp_or_catalog or script_error:
            problems.append(text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    try:
        yield page
    finally:
        await context.close()
    assert problems == [], problems


async def sign_in(
    page: Page, username: str, password: str = DEMO_PASSWORD, *, home: str | None = None
) -> None:
    await page.goto("/sign-in")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#sign-in-submit")
    await second_factor.complete_sign_in(page, username, password)
    if home:
        await page.wait_for_url(f"**{home}")


async def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def admin_page_loaded(page: Page) -> None:
    await page.goto("/admin")
    for table in ("#users-table", "#tokens-table", "#calendar-table"):
        await expect(page.locator(f"{table} tbody tr").first).not_to_contain_text(
            re.compile("加载中|Loading")
        )


# --- sign-in -------------------------------------------------------------------------------------


async def test_a_wrong_password_is_explained_and_the_right_one_lands_on_the_home_page(
    chromium: Any, live_app: Any
) -> None:
    async with open_page(chromium, live_app, lang="zh") as page:
        await page.goto("/admin")
        await page.wait_for_url("**/sign-in?next=/admin")
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        await expect(page.locator("#username")).to_be_focused()
        first_tabbable = "document.querySelector('a[href], button, input, select, textarea').className"
        assert await page.evaluate(first_tabbable) == "skip-link"

        await page.fill("#username", "admin")
        await page.fill("#password", "not-the-password")
        await page.click("#sign-in-submit")
        await expect(page.locator("#sign-in-error")).to_have_text("用户名或密码错误。")
        await expect(page.locator("#password")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#password")).to_be_focused()
        await expect(page.locator("#password")).to_have_value("")

        # The keyboard alone: type into the focused password field and press Enter.
        await page.keyboard.type(DEMO_PASSWORD)
        await page.keyboard.press("Enter")
        await second_factor.complete_sign_in(page, "admin")
        await page.wait_for_url("**/admin")
        await expect(page.locator(".user-name")).to_have_text("系统管理员")
        await expect(page.locator(".brand-court")).to_have_text("最高人民法院")
        await expect(page.locator('.site-nav a[aria-current="page"]')).to_have_text("管理")


async def test_each_role_lands_on_its_own_home_page(chromium: Any, live_app: Any) -> None:
    async with open_page(chromium, live_app, lang="en") as page:
        await sign_in(page, "xihu_clerk", home="/workspace")
        await expect(page.locator("h1")).to_have_text("Court workspace")
        nav = page.locator(".site-nav")
        await expect(nav).to_contain_text("Workspace")
        await expect(nav).not_to_contain_text("Admin")
        await expect(nav).not_to_contain_text("Dashboard")
    async with open_page(chromium, live_app, lang="en") as page:
        await sign_in(page, "hz_command", home="/dashboard")
        await expect(page.locator(".site-nav")).to_contain_text("Campaigns")


async def test_a_locked_account_says_how_many_minutes_to_wait(chromium: Any, live_app: Any) -> None:
    async with open_page(chromium, live_app, lang="zh") as page:
        for _ in range(MAX_FAILURES_PER_ACCOUNT):
            await sign_in(page, "chaoyang_clerk", "wrong-password-guess")
            await expect(page.locator("#sign-in-error")).to_have_text("用户名或密码错误。")
        # Locked now: even the right password is refused, with the time to wait.
        await sign_in(page, "chaoyang_clerk")
        await expect(page.locator("#sign-in-error")).to_have_text(
            f"该账号登录失败次数过多，已暂时锁定，请 {LOCKOUT_MINUTES} 分钟后再试。"
        )
        assert page.url.endswith("/sign-in")


async def test_a_lost_network_is_explained(chromium: Any, live_app: Any) -> None:
    async with open_page(chromium, live_app, lang="en") as page:
        await page.goto("/sign-in")
        await page.context.set_offline(True)
        await page.fill("#username", "admin")
        await page.fill("#password", DEMO_PASSWORD)
        await page.click("#sign-in-submit")
        await expect(page.locator("#sign-in-error")).to_have_text(
            "Cannot reach the server. Check the network connection and try again."
        )
        await expect(page.locator("#sign-in-submit")).to_be_enabled()
        await page.context.set_offline(False)
        await page.click("#sign-in-submit")
        await second_factor.complete_sign_in(page, "admin")
        await page.wait_for_url("**/admin")


async def test_the_language_switch_changes_every_page_and_is_remembered(chromium: Any, live_app: Any) -> None:
    async with open_page(chromium, live_app, lang="zh") as page:
        await page.goto("/sign-in")
        await expect(page.locator("h1")).to_have_text("登录")
        await page.click('.language-switch a[data-language="en"]')
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(page.locator("h1")).to_have_text("Sign in")
        await sign_in(page, "admin", home="/admin")
        await expect(page.locator("h1")).to_have_text("Administration")
        await page.click('.language-switch a[data-language="zh_Hans"]')
        await page.wait_for_url("**/admin")
        await expect(page.locator("h1")).to_have_text("系统管理")
        await expect(page.locator(".language-current")).to_have_text("中文")


# --- admin ---------------------------------------------------------------------------------------


async def test_an_admin_creates_a_token_sees_it_once_and_revokes_it(chromium: Any, live_app: Any) -> None:
    async with open_page(chromium, live_app, lang="zh") as page:
        await sign_in(page, "admin", home="/admin")
        await admin_page_loaded(page)
        await page.fill("#token-name", "案件管理系统")
        await page.click("#token-create button[type=submit]")
        secret_box = page.locator("#token-secret")
        await expect(secret_box).to_be_visible()
        await expect(secret_box).to_be_focused()
        secret = await page.locator("#token-secret-value").text_content()
        assert secret and re.fullmatch(r"cct_\d+_[A-Za-z0-9_-]{32,}", secret)
        async with httpx.AsyncClient(base_url=live_app.url) as api:
            me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
            assert me.status_code == 200 and me.json()["username"] == "案件管理系统"

        row = page.locator("#tokens-table tbody tr", has_text="案件管理系统")
        await expect(row).to_contain_text("启用")
        await expect(row).to_contain_text("最高人民法院 (000000)")
        await page.click("#token-secret-done")
        await expect(secret_box).to_be_hidden()
        assert secret not in await page.content()
        await page.reload()
        assert secret not in await page.content()

        page.once("dialog", lambda dialog: dialog.accept())
        await row.get_by_role("button", name=re.compile("吊销")).click()
        await expect(row).to_contain_text("已吊销")
        async with httpx.AsyncClient(base_url=live_app.url) as api:
            me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
            assert me.status_code == 401


async def test_an_admin_adds_a_user_with_inline_errors_then_deactivates_them(
    chromium: Any, live_app: Any
) -> None:
    async with open_page(chromium, live_app, lang="en") as page:
        await sign_in(page, "admin", home="/admin")
        await admin_page_loaded(page)
        await page.click("#user-create-details summary")
        form_error = page.locator("#user-create-error")
        # Checked in the browser first: a missing and a too short field, named in the page's language.
        await page.fill("#new-password", "short")
        await page.click("#user-create button[type=submit]")
        await expect(form_error).to_have_text("Please correct the highlighted fields.")
        await expect(page.locator("#new-username-error")).to_have_text("Fill in this field.")
        await expect(page.locator("#new-password-error")).to_have_text("Use at least 10 characters.")
        await expect(page.locator("#new-username")).to_be_focused()

        # Then by the API: the username is taken (409, the field named in the error's details).
        await page.fill("#new-username", "xihu_clerk")
        await page.fill("#new-display-name", "西湖区法院 新书记员")
        await page.select_option("#new-role", "clerk")
        await page.fill("#new-court", "330106")
        await expect(page.locator("#new-court-name")).to_have_text("杭州市西湖区人民法院")
        await page.fill("#new-password", "a-long-enough-password")
        await page.click("#user-create button[type=submit]")
        await expect(page.locator("#new-username-error")).to_have_text("The username xihu_clerk is taken.")
        await expect(page.locator("#new-username")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#new-password-error")).to_have_text("")

        await page.fill("#new-username", "xihu_new_clerk")
        await page.click("#user-create button[type=submit]")
        await expect(page.locator("#flash")).to_have_text("西湖区法院 新书记员 has been added.")
        await expect(page.locator("#new-username")).not_to_have_attribute("aria-invalid", "true")
        await expect(form_error).to_be_hidden()

        await page.fill("#user-filter-court", "330106")
        await page.fill("#user-q", "new_clerk")
        await page.click("#user-filters button[type=submit]")
        row = page.locator("#users-table tbody tr", has_text="xihu_new_clerk")
        await expect(row).to_contain_text("Clerk")
        await expect(row).to_contain_text("杭州市西湖区人民法院 (330106)")
        await expect(row).to_contain_text("Active")
        page.once("dialog", lambda dialog: dialog.accept())
        await row.get_by_role("button", name="Deactivate xihu_new_clerk").click()
        await expect(row).to_contain_text("Deactivated")
        await expect(row.get_by_role("button")).to_have_count(0)


async def test_the_spc_admin_loads_a_calendar_year(chromium: Any, live_app: Any) -> None:
    year = {
        "year": 2032,
        "holidays": {"2032-01-01": "元旦", "2032-10-01": "国庆节"},
        "workdays": {},
        "source": "国务院办公厅关于2032年部分节假日安排的通知",
    }
    async with open_page(chromium, live_app, lang="zh") as page:
        await sign_in(page, "admin", home="/admin")
        await admin_page_loaded(page)
        notice = page.locator("#calendar-load-error")
        await page.set_input_files(
            "#calendar-file",
            files=[{"name": "broken.json", "mimeType": "application/json", "buffer": b"{not json"}],
        )
        await page.click("#calendar-load button[type=submit]")
        await expect(notice).to_contain_text("文件不是有效的 JSON")

        await page.set_input_files(
            "#calendar-file",
            files=[
                {"name": "2032.json", "mimeType": "application/json", "buffer": json.dumps(year).encode()}
            ],
        )
        await page.click("#calendar-load button[type=submit]")
        await expect(notice).to_have_text("2032 年的安排已加载。")
        row = page.locator('#calendar-table tr[data-year="2032"]')
        await expect(row).to_contain_text("管理员加载")
        await expect(row).to_contain_text("国务院办公厅关于2032年部分节假日安排的通知")


async def test_the_admin_verifies_the_audit_chain(chromium: Any, live_app: Any) -> None:
    async with open_page(chromium, live_app, lang="en") as page:
        await sign_in(page, "admin", home="/admin")
        await admin_page_loaded(page)
        await page.click("#audit-verify")
        result = page.locator("#audit-result")
        await expect(result).to_have_attribute("data-ok", "true")
        await expect(result).to_contain_text(
            re.compile(r"The audit chain is intact: [\d,]+ entries verified\.")
        )


async def test_signing_out_returns_to_sign_in_and_closes_the_pages(chromium: Any, live_app: Any) -> None:
    async with open_page(chromium, live_app, lang="zh") as page:
        await sign_in(page, "xihu_officer", home="/workspace")
        await page.click("#sign-out")
        await page.wait_for_url("**/sign-in")
        await page.goto("/workspace")
        await page.wait_for_url("**/sign-in?next=/workspace")


async def test_the_browser_formats_times_and_amounts_as_the_server_does(chromium: Any, live_app: Any) -> None:
    from command_center.pages import shanghai_time, yuan

    cases = ["2026-01-31T16:30:00+00:00", "2026-01-31T16:30:00", "2026-06-30T23:59:59.123456Z"]
    amounts = [0, 5, 123_456_789, -250, 10**17 + 1]
    async with open_page(chromium, live_app, lang="en") as page:  # the browser's clock is in UTC
        await page.goto("/sign-in")
        shown = await page.evaluate(
            """async ([cases, amounts]) => {
                const f = await import("/static/js/format.js");
                return [cases.map(f.formatDateTime), amounts.map(f.formatYuan)];
            }""",
            [cases, [str(a) for a in amounts]],  # as strings: a JS number would round 10**17 + 1
        )
    assert shown == [[shanghai_time(c) for c in cases], [yuan(a) for a in amounts]]
    assert shown[0][0] == "2026-02-01 00:30"


# --- screenshots ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_every_page_is_screenshot_in_both_languages(chromium: Any, live_app: Any, lang: str) -> None:
    async with open_page(chromium, live_app, lang=lang) as page:
        await page.goto("/sign-in")
        await shoot(page, f"sign-in-{lang}")
        await sign_in(page, "admin", home="/admin")
        await admin_page_loaded(page)
        await page.click("#audit-verify")
        await expect(page.locator("#audit-result")).to_be_visible()
        await shoot(page, f"admin-{lang}")
    async with open_page(chromium, live_app, lang=lang) as page:
        await sign_in(page, "xihu_clerk", home="/workspace")
        await page.goto("/admin")
        await expect(page.locator("h1")).to_have_text("无权访问" if lang == "zh" else "No access")
        await shoot(page, f"no-access-{lang}")
    async with open_page(chromium, live_app, lang=lang, viewport=PHONE) as page:
        await page.goto("/sign-in")
        await shoot(page, f"sign-in-phone-{lang}")
        await sign_in(page, "admin", home="/admin")
        await admin_page_loaded(page)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the admin page is {overflow}px wider than a 360px phone"
        await shoot(page, f"admin-phone-{lang}")
