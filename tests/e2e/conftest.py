"""Browser tests: they need Debian's chromium, Playwright, and `unshare`/`ip` for a loopback-only namespace."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.browser import launch_chromium, missing_tools


@pytest.fixture(scope="session")
def browser_tools() -> None:
    """Skips (or, with CC_TEST_REQUIRE_BROWSER=1, fails) when the browser tests cannot run here."""
    missing = missing_tools()
    if missing:
        message = f"browser tests need: {', '.join(missing)}"
        if os.environ.get("CC_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def sqlite_run() -> None:
    """The browser scenarios bring their own SQLite database inside their namespace; they run once per suite."""
    if os.environ.get("CC_TEST_DATABASE_URL"):
        pytest.skip("browser scenarios run in the SQLite pass of the suite only")


# --- pages: one app node and one Chromium for the whole run; each test opens its own context ------


@pytest.fixture(scope="session")
async def live_app(
    browser_tools: None, sqlite_run: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Any]:
    """The app served by uvicorn on a loopback port (temp SQLite, private Redis, demo users)."""
    from tests.e2e.live_app import start_live_app

    app = await start_live_app(tmp_path_factory.mktemp("pages-e2e"))
    yield app
    app.stop()


@pytest.fixture(scope="session")
async def chromium(browser_tools: None) -> AsyncIterator[Any]:
    """Debian's headless Chromium through Playwright (no media flags)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        yield browser
        await browser.close()
