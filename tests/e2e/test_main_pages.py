"""The workspace, request and dashboard pages in real Chromium contexts against a real app node.

The app node runs the outbox relay and the `/live` socket.io namespace, so what one court does reaches
the other courts' open pages without a reload. Screenshots land in docs/screenshots/<page>-<lang>.png.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from itertools import count
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from assistance.cases.identities import make_case_number, make_credit_code, make_resident_id
from command_center.settings import PROJECT_ROOT
from tests.assistance.requests.test_attachments import make_pdf
from tests.e2e.test_pages import BROWSER_LOCALE, DESKTOP, PHONE, shoot, sign_in

LIVE_TIMEOUT = 5_000  # ms: a live update shows up well within this
_serial = count(1)


@asynccontextmanager
async def live_page(
    chromium: Any, live_app: Any, *, lang: str, viewport: dict | None = None
) -> AsyncIterator[Page]:
    """A page in a fresh context whose browser prefers `lang`; fails on script errors, CSP violations and
    missing client strings. The browser's own log of a refused WebSocket while offline is expected."""
    context = await chromium.new_context(
        base_url=live_app.url, locale=BROWSER_LOCALE[lang], viewport=viewport or DESKTOP, timezone_id="UTC"
    )
    page = await context.new_page()
    problems: list[str] = []

    def on_console(message: Any) -> None:
        text = message.text
        expected = "Failed to load resource" in text or "WebSocket connection to" in text
        if (
            "Content Security Policy" in text
            or "missing client string" in text
            or (message.type == "error" and not expected)
        ):
            problems.append(text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    try:
        yield page
    finally:
        await context.close()
    assert problems == [], problems


async def file_case(page: Page, *, respondent_region: str = "330105") -> dict[str, Any]:
    """Files an enforcement case of the signed-in clerk's court through the API, as the page would."""
    serial = 700 + next(_serial)
    body = {
        "case_number": make_case_number("浙0106", 2026, 80000 + serial),
        "category": "wages",
        "applicant": {
            "name": "李四",
            "kind": "person",
            "id_number": make_resident_id("330106", date(1980, 1, 1), serial),
        },
        "respondents": [
            {
                "name": f"杭州某建筑公司{serial}",
                "kind": "organization",
                "id_number": make_credit_code(respondent_region, serial),
            }
        ],
        "amount_claimed": 5_000_000,
        "filed_on": "2026-03-02",
    }
    result = await page.evaluate(
        """async (body) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const response = await fetch("/api/v1/cases", {method: "POST", body: JSON.stringify(body),
              headers: {"Content-Type": "application/json", "X-CSRF-Token": token}});
            return {status: response.status, body: await response.json()};
        }""",
        body,
    )
    assert result["status"] == 201, json.dumps(result, ensure_ascii=False)
    return result["body"]


async def counter(page: Page, name: str) -> int:
    await expect(page.locator(f"#counter-{name} .counter-value")).to_have_text(re.compile(r"^\d+$"))
    return int(await page.locator(f"#counter-{name} .counter-value").text_content() or "0")


async def submit_through_form(page: Page, case: dict[str, Any]) -> None:
    form = page.locator("#submit-form")
    await form.locator("#new-case_id").select_option(str(case["id"]))
    await form.locator("#new-subject_id").select_option(str(case["respondents"][0]["id"]))
    await form.locator("#new-matter_type").select_option("investigate_property")
    await expect(form.locator('input[name="materials"][value="judgment"]')).to_be_checked()
    await form.locator("#new-province").select_option("330000")
    await expect(form.locator("#new-city option[value='330100']")).to_have_count(1)
    await form.locator("#new-city").select_option("330100")
    await expect(form.locator("#new-region_code option[value='330105']")).to_have_count(1)
    await form.locator("#new-region_code").select_option("330105")
    await form.locator("#new-address").fill("杭州市拱墅区某路1号")
    await form.locator("#new-description").fill("查询被执行人名下存款")
    await form.locator("#submit-request").click()


async def test_a_request_travels_live_between_two_courts_and_their_command_center(
    chromium: Any, live_app: Any
) -> None:
    async with (
        live_page(chromium, live_app, lang="zh") as clerk,
        live_page(chromium, live_app, lang="en") as officer,
        live_page(chromium, live_app, lang="zh") as command,
    ):
        await sign_in(clerk, "xihu_clerk", home="/workspace")
        case = await file_case(clerk)
        await clerk.reload()
        await expect(clerk.locator(f"#new-case_id option[value='{case['id']}']")).to_have_count(1)

        await sign_in(officer, "gongshu_officer", home="/workspace")
        await expect(officer.locator("#requests-table tbody tr").first).not_to_contain_text("Loading")
        await sign_in(command, "hz_command", home="/dashboard")
        routed_before = await counter(command, "routed")
        open_before = await counter(command, "open")
        filed_before = await counter(command, "filed")

        # Inline validation: the address is required before anything is sent.
        await clerk.locator("#submit-request").click()
        await expect(clerk.locator("#new-case_id-error")).to_have_text("请填写此项。")

        await submit_through_form(clerk, case)
        await expect(clerk.locator("#submit-notice")).to_contain_text("已提交至杭州市拱墅区人民法院")

        # Without a reload: the receiving court's inbox and the supervisor's dashboard.
        row = officer.locator("#requests-table tbody tr", has_text=case["case_number"])
        await expect(row).to_be_visible(timeout=LIVE_TIMEOUT)
        await expect(row).to_contain_text("Routed")
        await expect(row).to_contain_text("Investigate property")  # the matter's English name
        await expect(command.locator("#counter-routed .counter-value")).to_have_text(
            str(routed_before + 1), timeout=LIVE_TIMEOUT
        )
        await expect(command.locator("#counter-open .counter-value")).to_have_text(str(open_before + 1))
        await expect(command.locator("#feed")).to_contain_text(
            "已分派至 杭州市拱墅区人民法院", timeout=LIVE_TIMEOUT
        )
        await shoot(command, "dashboard-zh")

        # The receiving officer files it.
        await row.locator("a").first.click()
        await officer.wait_for_url(re.compile(r"/requests/\d+$"))
        request_id = int(officer.url.rsplit("/", 1)[1])
        await officer.locator('#action-buttons button[data-action="file"]').click()
        await officer.locator("#action-confirm").click()
        await expect(officer.locator("#request-status")).to_have_text("Filed")
        await expect(command.locator("#counter-filed .counter-value")).to_have_text(
            str(filed_before + 1), timeout=LIVE_TIMEOUT
        )
        # Names and timeline in the page's language: English here, Chinese for the clerk below.
        details = officer.locator("#request-details")
        await expect(details).to_contain_text("Investigate property")
        await expect(details).to_contain_text("Letter of commission, Effective legal instrument")
        await expect(officer.locator("#timeline li").first).to_contain_text("Request submitted")
        await expect(officer.locator('#timeline li[data-action="assistance.filed"]')).to_contain_text("Filed")

        # The two courts talk in the request's thread, live.
        await clerk.goto(f"/requests/{request_id}")
        await expect(clerk.locator("#request-status")).to_have_text("已立案")
        await expect(clerk.locator("#request-details")).to_contain_text("调查被执行人财产")
        await expect(clerk.locator("#timeline li").first).to_contain_text("提交委托")
        await expect(clerk.locator("#timeline")).not_to_contain_text("assistance.")
        await expect(clerk.locator("#thread")).to_contain_text("暂无留言")
        await expect(clerk.locator("html")).to_have_attribute("data-live", "ready")
        await officer.fill("#message-body", "Received; we will query the banks tomorrow.")
        await expect(clerk.locator("#typing")).to_have_text(
            re.compile(r"^\S+ 正在输入…$"), timeout=LIVE_TIMEOUT
        )
        await officer.click("#message-send")
        await expect(clerk.locator("#thread")).to_contain_text("query the banks", timeout=LIVE_TIMEOUT)
        await clerk.fill("#message-body", "好的，谢谢。")
        await clerk.click("#message-send")
        await expect(officer.locator("#thread")).to_contain_text("好的，谢谢。", timeout=LIVE_TIMEOUT)
        # Read receipts: the clerk's court read the officer's message.
        await expect(officer.locator("#thread li.mine .receipt").first).to_contain_text(
            "Read by", timeout=LIVE_TIMEOUT
        )
        # A document: uploaded by one court, listed for both (the clerk's list follows on reload).
        await expect(officer.locator("#attachments-list")).to_have_text("None")
        await officer.set_input_files(
            "#upload-file",
            files=[
                {
                    "name": "查询结果.pdf",
                    "mimeType": "application/pdf",
                    "buffer": make_pdf(),
                }
            ],
        )
        await officer.select_option("#upload-purpose", "result")
        await officer.click("#upload-form button[type=submit]")
        await expect(officer.locator("#attachments-list")).to_contain_text("查询结果.pdf")
        await clerk.reload()
        await expect(clerk.locator("#attachments-list a")).to_have_text("查询结果.pdf")
        await expect(clerk.locator("html")).to_have_attribute("data-live", "ready")
        await shoot(clerk, "request-zh")
        await shoot(officer, "request-en")

        # Ten seconds offline: the page says it is reconnecting, then catches up without a reload.
        await clerk.context.set_offline(True)
        await expect(clerk.locator("#live-status")).to_be_visible(timeout=LIVE_TIMEOUT)
        await expect(clerk.locator("#live-status")).to_have_text("重新连接中…")
        await officer.fill("#message-body", "Sent while you were offline.")
        await officer.click("#message-send")
        await officer.locator('#action-buttons button[data-action="start"]').click()
        await officer.locator("#action-confirm").click()
        await expect(officer.locator("#request-status")).to_have_text("In progress")
        await clerk.wait_for_timeout(10_000)
        await expect(clerk.locator("#thread")).not_to_contain_text("Sent while you were offline.")
        await clerk.context.set_offline(False)
        await expect(clerk.locator("#live-status")).to_be_hidden(timeout=15_000)
        await expect(clerk.locator("#thread")).to_contain_text(
            "Sent while you were offline.", timeout=LIVE_TIMEOUT
        )
        await expect(clerk.locator("#request-status")).to_have_text("办理中", timeout=LIVE_TIMEOUT)


async def test_the_submit_form_suggests_the_region_of_a_typed_address_in_both_languages(
    chromium: Any, live_app: Any
) -> None:
    for lang in ("zh", "en"):
        async with live_page(chromium, live_app, lang=lang) as page:
            await sign_in(page, "xihu_clerk", home="/workspace")
            await page.locator('.tab[data-view="outgoing"]').click()
            await expect(page.locator("#requests-table tbody tr").first).not_to_contain_text(
                re.compile("加载中|Loading")
            )
            await expect(page.locator("#new-province option").nth(1)).to_be_attached()
            # The address names the region: short names in Chinese, the full ones in English.
            address = "宁波海曙中山西路1号" if lang == "zh" else "浙江省宁波市海曙区中山西路1号"
            await page.locator("#new-address").press_sequentially(address, delay=20)
            suggestion = page.locator("#region-suggestion")
            await expect(suggestion).to_be_visible(timeout=LIVE_TIMEOUT)
            await expect(suggestion).to_contain_text("浙江省 › 宁波市 › 海曙区")
            await expect(page.locator("#new-region_code")).to_have_value("")
            if lang == "zh":
                await shoot(page, "workspace-suggestion-zh")  # the offer, before it is taken
            await page.locator("#region-suggestion-accept").click()
            await expect(page.locator("#new-province")).to_have_value("330000")
            await expect(page.locator("#new-city")).to_have_value("330200")
            await expect(page.locator("#new-region_code")).to_have_value("330203")
            await expect(page.locator("#route-preview")).to_contain_text("宁波市海曙区人民法院")
            await expect(suggestion).to_be_hidden()
            await page.locator("#new-matter_type").select_option("freeze_deposits")
            materials = page.locator("#materials-list")
            await expect(materials).to_contain_text("执行裁定书" if lang == "zh" else "Enforcement ruling")
            await shoot(page, f"workspace-{lang}")


async def test_the_workspace_fits_a_phone(chromium: Any, live_app: Any) -> None:
    async with live_page(chromium, live_app, lang="zh", viewport=PHONE) as page:
        await sign_in(page, "xihu_officer", home="/workspace")
        await expect(page.locator("h1")).to_have_text("工作台")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1
        await shoot(page, "workspace-phone-zh")


def _start_worker(live_app: Any, log: Path) -> subprocess.Popen[bytes]:
    # Popen returns at once; the worker runs until running_worker() stops it.
    with log.open("wb") as out:
        return subprocess.Popen(
            # As production runs it (`command-center worker`): the main and the deadline backlog worker.
            [sys.executable, "-m", "command_center", "worker"],
            cwd=PROJECT_ROOT,
            env=live_app.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@asynccontextmanager
async def running_worker(live_app: Any, log: Path) -> AsyncIterator[None]:
    """The arq worker of the live app (same CC_ settings): it runs campaign dispatches."""
    worker = _start_worker(live_app, log)
    try:
        yield
    finally:
        _stop(worker)


async def test_a_campaign_is_defined_previewed_and_dispatched_with_a_live_progress_bar(
    chromium: Any, live_app: Any, tmp_path: Path
) -> None:
    async with live_page(chromium, live_app, lang="zh") as clerk:
        await sign_in(clerk, "xihu_clerk", home="/workspace")
        await file_case(clerk)
    today = date.today()
    async with (
        live_page(chromium, live_app, lang="zh") as page,
        running_worker(live_app, tmp_path / "worker.log"),
    ):
        await sign_in(page, "hz_command", home="/dashboard")
        await page.goto("/campaigns")
        await expect(page.locator("#campaigns-table tbody tr").first).not_to_contain_text("加载中")
        # Inline validation first: nothing is sent without a name and a window.
        await page.click("#campaign-create")
        await expect(page.locator("#new-name-error")).to_have_text("请填写此项。")

        await page.fill("#new-name", "2027 年春节前涉民生案件集中执行")
        await page.fill("#new-window_start", today.isoformat())
        await page.fill("#new-window_end", (today + timedelta(days=60)).isoformat())
        await page.check("#new-livelihood")
        await page.fill("#new-region_prefixes", "3301")
        await page.click("#campaign-create")
        await expect(page.locator("#campaign-notice")).to_contain_text("已创建专项行动草稿")
        await expect(page.locator("#campaign-preview")).to_contain_text(re.compile(r"[1-9]\d* 件未结案件"))
        await shoot(page, "campaigns-zh")

        # The command dashboard, open meanwhile, shows the dispatch's progress bar live.
        dashboard = await page.context.new_page()
        await dashboard.goto("/dashboard")
        await expect(dashboard.locator("html")).to_have_attribute("data-live", "ready")
        await page.click("#campaign-dispatch")
        await expect(page.locator("#campaign-progress")).to_have_attribute("value", "100", timeout=90_000)
        bar = dashboard.locator("#campaign-progress-list li", has_text="2027 年春节前涉民生案件集中执行")
        await expect(bar.locator("progress")).to_have_attribute("value", "100", timeout=LIVE_TIMEOUT)
        await expect(bar.locator("a")).to_have_attribute("href", re.compile(r"^/campaigns#campaign-\d+$"))
        await bar.locator("a").click()
        await expect(dashboard.locator("#campaign-heading")).to_contain_text("2027 年春节前")
        await dashboard.close()
        await expect(page.locator("#campaign-heading")).to_contain_text("进行中", timeout=LIVE_TIMEOUT)
        # One row per court the campaign reached, ordered by court code; 西湖区 is among them.
        await expect(page.locator("#report-table tbody tr").filter(has_text="西湖区")).to_have_count(1)
        async with live_page(chromium, live_app, lang="en") as english:
            await sign_in(english, "hz_command", home="/dashboard")
            await english.goto("/campaigns")
            await english.locator("#campaigns-table tbody tr a").first.click()
            await expect(english.locator("#campaign-progress")).to_have_attribute("value", "100")
            await shoot(english, "campaigns-en")


async def test_the_dashboard_lists_open_video_sessions_live_with_a_join_button(
    chromium: Any, live_app: Any
) -> None:
    async with (
        live_page(chromium, live_app, lang="zh") as dashboard,
        live_page(chromium, live_app, lang="en") as province,
    ):
        await sign_in(dashboard, "hz_command", home="/dashboard")
        await expect(dashboard.locator("html")).to_have_attribute("data-live", "ready")
        me = await dashboard.evaluate("fetch('/api/v1/me').then((r) => r.json())")
        # The province's command center opens a session and invites the Hangzhou duty officer.
        await sign_in(province, "zj_command", home="/dashboard")
        created = await province.evaluate(
            """async (invitee) => {
                const token = document.querySelector('meta[name="csrf-token"]').content;
                const response = await fetch("/api/v1/video-sessions", {method: "POST",
                  body: JSON.stringify({topic: "拱墅区查封现场远程指导", invitees: [invitee]}),
                  headers: {"Content-Type": "application/json", "X-CSRF-Token": token}});
                return {status: response.status, body: await response.json()};
            }""",
            me["id"],
        )
        assert created["status"] == 201, created
        item = dashboard.locator(f"#video-sessions li[data-session-id='{created['body']['id']}']")
        await expect(item).to_contain_text("拱墅区查封现场远程指导", timeout=LIVE_TIMEOUT)
        await expect(item).to_contain_text("浙江省高级人民法院")
        join = item.locator("a.button")
        await expect(join).to_have_text("加入")
        await expect(join).to_have_attribute("href", f"/video/{created['body']['id']}")
        # The invitation also lands in the header's notification tray.
        await expect(dashboard.locator("#tray-count")).to_be_visible()
        await dashboard.locator("#tray-toggle").click()
        invitation = dashboard.locator(
            "#notification-list li", has_text="视频会商邀请：拱墅区查封现场远程指导"
        )
        await expect(invitation.locator("a")).to_have_attribute("href", f"/video/{created['body']['id']}")
        await dashboard.locator("#tray-toggle").click()
        await shoot(dashboard, "dashboard-zh")
        await province.goto("/dashboard")
        await expect(province.locator("#video-sessions")).to_contain_text("拱墅区查封现场远程指导")
        await expect(province.locator("#video-sessions a.button").first).to_have_text("Join")
        await expect(province.locator("#counter-open .counter-value")).to_have_text(re.compile(r"^\d+$"))
        await shoot(province, "dashboard-en")
        # A session Hangzhou opens, invited or not, appears on the province's dashboard live and leaves
        # it when it ends.
        await expect(province.locator("html")).to_have_attribute("data-live", "ready")
        post = """async (path) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const response = await fetch(path, {method: "POST", body: JSON.stringify({topic: "西湖区扣押车辆指导"}),
              headers: {"Content-Type": "application/json", "X-CSRF-Token": token}});
            return {status: response.status, body: await response.json()};
        }"""
        opened = await dashboard.evaluate(post, "/api/v1/video-sessions")
        assert opened["status"] == 201, opened
        row = province.locator(f"#video-sessions li[data-session-id='{opened['body']['id']}']")
        await expect(row).to_contain_text("西湖区扣押车辆指导", timeout=LIVE_TIMEOUT)
        await expect(row).to_contain_text("杭州市中级人民法院")
        ended = await dashboard.evaluate(post, f"/api/v1/video-sessions/{opened['body']['id']}/end")
        assert ended["status"] == 200, ended
        await expect(row).to_have_count(0, timeout=LIVE_TIMEOUT)
