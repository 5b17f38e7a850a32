"""The second step of signing in demo admins and command staff in the browser tests.

The live app's demo users of those roles are enrolled with TOTP (command_center/demo.py). Like
`command-center totp-code`, this reads a demo user's secret from the live app's database with its
CC_SECRET_KEY and computes the code. The server accepts each time step's code once (and the neighbouring
steps' for clock drift), so codes are handed out for the current and the next step, and when both are
spent for a user, after waiting for the next step.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from command_center.db import Database, utcnow
from command_center.demo import DEMO_PASSWORD, DEMO_USERS
from command_center.identity import second_factor, totp
from command_center.settings import Settings

_live: dict[str, Settings] = {}
_last_step: dict[str, int] = {}


def register(settings: Settings) -> None:
    """Remembers the live app's settings (database and secret key) for `demo_code`."""
    _live["settings"] = settings


def needs_code(username: str, password: str = DEMO_PASSWORD) -> bool:
    """True for a demo user the live app asks for a code (right password, role that requires one)."""
    settings = _live.get("settings")
    if settings is None or password != DEMO_PASSWORD:
        return False
    return any(d.username == username and second_factor.required_for(settings, d.role) for d in DEMO_USERS)


async def demo_code(username: str) -> str:
    """A code of `username` that the live app has not accepted yet."""
    settings = _live["settings"]
    db = Database.from_settings(settings)
    try:
        async with db.unit_of_work(read_only=True) as session:
            _, secret = await second_factor.demo_secret(session, username=username, settings=settings)
    finally:
        await db.dispose()
    while True:
        now = totp.time_step(utcnow())
        for step in (now, now + 1):
            if step > _last_step.get(username, -1):
                _last_step[username] = step
                return totp.code_at(secret, step)
        await asyncio.sleep(totp.STEP_SECONDS - time.time() % totp.STEP_SECONDS + 0.1)


async def complete_sign_in(page: Any, username: str, password: str = DEMO_PASSWORD) -> None:
    """After the password was submitted on /sign-in: enters the code when the live app asks for one."""
    if not needs_code(username, password):
        return
    await page.locator("#second-factor-code").wait_for(state="visible")
    await page.fill("#second-factor-code", await demo_code(username))
    await page.click("#second-factor-submit")
