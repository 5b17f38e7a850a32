"""`command-center up`: one machine, one command — migrate, load, start Redis, the web app and the worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from types import FrameType

from sqlalchemy import func, select

from command_center.db import Database
from command_center.redis_server import PrivateRedis
from command_center.settings import Settings


async def prepare_database(
    settings: Settings, *, demo_cases: int = 20_000, demo_requests: int = 5_000
) -> list[str]:
    """Migrates, loads the court directory and the demo data set when empty; returns lines to print."""
    from assistance.demo import load_demo_cases_into
    from command_center.courts.dataset import DATASET
    from command_center.courts.models import Court
    from command_center.demo import DEMO_PASSWORD, SECOND_FACTOR_HINT, load_demo
    from command_center.migrate import upgrade

    lines: list[str] = []
    db = Database.from_settings(settings)
    try:
        await upgrade(db.engine)
        async with db.unit_of_work() as session:
            if not await session.scalar(select(func.count()).select_from(Court)):
                from command_center.courts.service import load_courts

                result = await load_courts(session)
                lines.append(f"court directory loaded from {DATASET}: {result.summary()}")
        async with db.unit_of_work() as session:
            created = await load_demo(session, settings=settings)
        if created:
            lines.append(
                await load_demo_cases_into(
                    db,
                    cases=demo_cases,
                    requests=demo_requests,
                    progress=lambda line: print(line, flush=True),
                )
            )
            lines.append(f"demo users created (password {DEMO_PASSWORD}):")
            lines += [f"  {u.username:<16} {u.role.value:<14} {u.court_code}  {u.display_name}" for u in created]
            lines.append(SECOND_FACTOR_HINT)
        else:
            lines.append(f"demo logins (if the demo data set is loaded): admin, spc_command, zj_command, "
                         f"hz_command, xihu_clerk, xihu_officer — password {DEMO_PASSWORD}")
    finally:
        await db.dispose()
    return lines


def _wait_ready(url: str, processes: list[subprocess.Popen[bytes]], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            return False
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def up(settings: Settings, *, host: str | None = None, port: int | None = None) -> int:
    host = host or settings.host
    port = port or settings.port
    print("preparing the database ...", flush=True)
    for line in asyncio.run(prepare_database(settings)):
        print(line, flush=True)

    redis: PrivateRedis | None = None
    env = dict(os.environ)
    if settings.redis_url:
        redis_url = settings.redis_url
    else:
        redis = PrivateRedis(settings.var_dir / "redis")
        redis_url = redis.start()
        print(f"private Redis started at {redis_url}", flush=True)
    env["CC_REDIS_URL"] = redis_url

    base = [sys.executable, "-m", "command_center"]
    processes = [
        subprocess.Popen([*base, "serve", "--host", host, "--port", str(port)], env=env, start_new_session=True),
        subprocess.Popen([*base, "worker"], env=env, start_new_session=True),
    ]
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    url = f"http://{host}:{port}"
    code = 0
    try:
        if not _wait_ready(url, processes):
            print("the web app did not become ready; stopping", file=sys.stderr)
            code = 1
        else:
            print(f"\nEnforcement Command Center is running at {url}  (API docs: {url}/docs)")
            print("press Ctrl-C to stop everything", flush=True)
            while not stopping:
                if any(p.poll() is not None for p in processes):
                    print("a process exited unexpectedly; stopping", file=sys.stderr)
                    code = 1
                    break
                time.sleep(0.5)
    finally:
        print("stopping ...", flush=True)
        _stop(processes)
        if redis:
            redis.stop()
    return code
