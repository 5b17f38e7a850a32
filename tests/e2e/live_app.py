"""A real app node for page tests: uvicorn on a loopback port, a temp SQLite database, a private Redis.

The database is migrated and holds the court directory and the demo users (`command-center up`'s
preparation), so a test signs in as `admin`, `hz_command`, `xihu_clerk` ... with DEMO_PASSWORD.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from command_center.demo import DEMO_PASSWORD
from command_center.redis_server import PrivateRedis, free_port
from command_center.settings import PROJECT_ROOT, Settings
from tests.e2e import second_factor

# Few enough that a test can lock an account; the per-address limit stays far above what tests spend.
MAX_FAILURES_PER_ACCOUNT = 3
LOCKOUT_MINUTES = 15
__all__ = ["DEMO_PASSWORD", "LiveApp", "start_live_app"]


@dataclass
class LiveApp:
    url: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes]
    redis: PrivateRedis

    def server_log(self, tail: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-tail:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.redis.stop()


async def _wait_ready(app: LiveApp, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if app.process.poll() is not None:
                raise RuntimeError(f"the app exited with {app.process.returncode}:\n{app.server_log()}")
            try:
                if (await client.get(f"{app.url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"the app did not become ready in {timeout} s:\n{app.server_log()}")


def _serve(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # Popen returns at once; the server runs until LiveApp.stop().
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.serve_app", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def start_live_app(workdir: Path) -> LiveApp:
    """Prepares the database, then starts Redis and the app (with the /video namespace) on loopback."""
    from command_center.launcher import prepare_database

    workdir.mkdir(parents=True, exist_ok=True)
    redis = PrivateRedis(workdir / "redis")
    redis_url = redis.start()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CC_")}
    env.update(
        {
            "PYTHONPATH": str(PROJECT_ROOT),
            "CC_ENV": "test",
            "CC_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'pages.db'}",
            "CC_REDIS_URL": redis_url,
            "CC_SECRET_KEY": "e2e-pages-secret-" + "x" * 32,
            "CC_VAR_DIR": str(workdir / "var"),
            "CC_LOGIN_MAX_FAILURES_PER_ACCOUNT": str(MAX_FAILURES_PER_ACCOUNT),
            "CC_LOGIN_LOCKOUT_MINUTES": str(LOCKOUT_MINUTES),
            "CC_LOG_JSON": "false",
            "CC_LOG_LEVEL": "WARNING",
        }
    )
    settings = Settings(
        env="test",
        database_url=env["CC_DATABASE_URL"],
        redis_url=redis_url,
        secret_key=env["CC_SECRET_KEY"],
        var_dir=workdir / "var",
    )
    # A small demo data set: enough for every page to show data, little enough that the worker's
    # start-up sweep of its overdue deadlines does not delay the jobs the tests start.
    await prepare_database(settings, demo_cases=400, demo_requests=100)
    second_factor.register(settings)  # demo admins and command staff sign in with a TOTP code
    port = free_port()
    log = workdir / "app.log"
    app = LiveApp(
        url=f"http://127.0.0.1:{port}", env=env, log=log, process=_serve(port, env, log), redis=redis
    )
    try:
        await _wait_ready(app)
    except BaseException:
        app.stop()
        raise
    return app
