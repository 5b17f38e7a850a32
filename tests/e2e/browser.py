"""Headless Chromium for the browser tests: Debian's package, driven by Playwright (DESIGN.md §5)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("CC_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
MEDIA_FLAGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]


def missing_tools() -> list[str]:
    """What the browser tests need and this machine lacks (empty when they can run)."""
    missing = [name for name in ("unshare", "ip") if shutil.which(name) is None]
    if not Path(CHROMIUM).exists():
        missing.append(CHROMIUM)
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (pip)")
    return missing


async def launch_chromium(playwright: Any, *, media: bool = False) -> Any:
    """A headless Chromium from Debian's package (never a downloaded browser build)."""
    return await playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS + (MEDIA_FLAGS if media else [])
    )


def run_in_loopback_namespace(
    argv: list[str], *, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Runs `argv` in a new network namespace whose only interface is loopback (brought up first).

    Everything the command starts (app, Redis, browser) lives in that namespace, so no packet can
    leave the machine, whatever address a library picks.
    """
    script = 'ip link set lo up && exec "$@"'
    return subprocess.run(
        ["unshare", "--net", "--", "sh", "-c", script, "sh", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def python() -> str:
    return sys.executable
