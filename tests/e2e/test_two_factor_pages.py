"""Two-factor sign-in in a real Chromium: a new command-staff user is made to set it up, gets the recovery
codes once, then signs in with password and code, and with a recovery code."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import expect

from command_center.db import utcnow
from command_center.identity import totp
from tests.e2e.test_pages import open_page, shoot, sign_in

PASSWORD = "two-factor-browser-test"


def wrong_code_for(secret: str) -> str:
    step = totp.time_step(utcnow())
    valid = {totp.code_at(secret, s) for s in (step - 1, step, step + 1, step + 2)}
    return next(c for c in ("000000", "111111", "222222") if c not in valid)


async def test_command_staff_set_up_two_factor_then_sign_in_with_a_code_or_a_recovery_code(
    chromium: Any, live_app: Any
) -> None:
    async with open_page(chromium, live_app) as admin:
        await sign_in(admin, "admin", home="/admin")
        csrf = await admin.get_attribute('meta[name="csrf-token"]', "content")
        created = await admin.request.post(
            "/api/v1/users",
            data={
                "username": "e2e_2fa_staff",
                "password": PASSWORD,
                "role": "command_staff",
                "court_code": "330100",
            },
            headers={"X-CSRF-Token": csrf or ""},
        )
        assert created.status == 201, await created.text()

    async with open_page(chromium, live_app) as page:
        # First sign-in: the role requires two-factor sign-in, so the setup page is all there is.
        await page.goto("/sign-in")
        await page.fill("#username", "e2e_2fa_staff")
        await page.fill("#password", PASSWORD)
        await page.click("#sign-in-submit")
        await page.wait_for_url(re.compile(r"/account/two-factor"))
        await expect(page.locator("#two-factor-required")).to_be_visible()
        await expect(page.locator("#enroll-secret")).to_have_value(re.compile(r"^[A-Z2-7]{32}$"))
        await expect(page.locator("#enroll-qr")).to_be_visible()
        assert await page.locator("#enroll-qr").evaluate("img => img.complete && img.naturalWidth > 0")
        secret = await page.locator("#enroll-secret").input_value()
        assert (await page.locator("#enroll-uri").get_attribute("href") or "").startswith("otpauth://totp/")
        # Until it is set up, every other page leads back here.
        await page.goto("/dashboard")
        await page.wait_for_url(re.compile(r"/account/two-factor\?next=/dashboard"))
        await expect(page.locator("#enroll-secret")).to_have_value(re.compile(r"^[A-Z2-7]{32}$"))
        secret = await page.locator("#enroll-secret").input_value()  # a reload starts a fresh enrollment
        await shoot(page, "two-factor-setup-zh")

        await page.fill("#enroll-code", wrong_code_for(secret))
        await page.click("#enroll-confirm-submit")
        await expect(page.locator("#two-factor-error")).to_contain_text("验证码不匹配")
        await page.fill("#enroll-code", totp.code_at(secret, totp.time_step(utcnow())))
        await page.click("#enroll-confirm-submit")
        await expect(page.locator("#recovery-codes li")).to_have_count(10)
        codes = [c.strip() for c in await page.locator("#recovery-codes li").all_inner_texts()]
        assert all(re.fullmatch(r"[a-z0-9]{5}-[a-z0-9]{5}", c) for c in codes), codes
        await shoot(page, "two-factor-recovery-codes-zh")
        await page.click("#enroll-continue")
        await page.wait_for_url("**/dashboard")
        await page.click("#sign-out")
        await page.wait_for_url(re.compile(r"/sign-in"))

        # Next sign-in: password, then a code; a wrong one is refused with a clear message.
        await page.goto("/sign-in")
        await page.fill("#username", "e2e_2fa_staff")
        await page.fill("#password", PASSWORD)
        await page.click("#sign-in-submit")
        await expect(page.locator("#second-factor-code")).to_be_visible()
        await expect(page.locator("#sign-in-form")).to_be_hidden()
        await shoot(page, "sign-in-second-factor-zh")
        await page.fill("#second-factor-code", wrong_code_for(secret))
        await page.click("#second-factor-submit")
        await expect(page.locator("#sign-in-error")).to_contain_text("验证码错误")

        # "Use a recovery code": one of the codes shown at setup signs in once.
        await page.click("#use-recovery-code")
        await expect(page.locator("#recovery-code")).to_be_visible()
        await page.fill("#recovery-code", codes[0].upper())
        await page.click("#second-factor-submit")
        await page.wait_for_url("**/dashboard")

    async with open_page(chromium, live_app, lang="en") as page:
        await page.goto("/sign-in")
        await page.fill("#username", "e2e_2fa_staff")
        await page.fill("#password", PASSWORD)
        await page.click("#sign-in-submit")
        await page.click("#use-recovery-code")
        await page.fill("#recovery-code", codes[0])
        await page.click("#second-factor-submit")
        await expect(page.locator("#sign-in-error")).to_contain_text("already been used")
        await page.click("#use-totp-code")
        step = totp.time_step(utcnow())
        await page.fill("#second-factor-code", totp.code_at(secret, step + 1))
        await page.click("#second-factor-submit")
        await page.wait_for_url("**/dashboard")
