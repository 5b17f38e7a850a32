"""`command-center totp-code` and `reset-second-factor`, run as real processes against a scratch database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from command_center.db import Database, utcnow
from command_center.identity import second_factor, totp
from command_center.settings import Settings

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("CC_TEST_DATABASE_URL")),
    reason="the CLI's database code is covered by the SQLite run",
)
SECRET_KEY = "cli-second-factor-secret-" + "y" * 32


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "command_center", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    db = tmp_path_factory.mktemp("cli-2fa") / "cli.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    env |= {
        "CC_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "CC_LOG_LEVEL": "WARNING",
        "CC_SECRET_KEY": SECRET_KEY,
    }
    for command in (["migrate"], ["load-courts"]):
        assert cli(env, *command).returncode == 0
    return env


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(env="development", database_url=env["CC_DATABASE_URL"], secret_key=SECRET_KEY)


async def test_totp_code_prints_a_demo_users_current_code_and_nothing_in_production(
    scratch: dict[str, str], tmp_path: Path
) -> None:
    from command_center.demo import load_demo

    settings = settings_of(scratch)
    db = Database.from_settings(settings)
    try:
        async with db.unit_of_work() as session:
            await load_demo(session, settings=settings)  # the users only, not the case data set
        async with db.unit_of_work(read_only=True) as session:
            _, secret = await second_factor.demo_secret(session, username="zj_command", settings=settings)
    finally:
        await db.dispose()

    result = cli(scratch, "totp-code", "zj_command")
    assert result.returncode == 0, result.stderr
    step = totp.time_step(utcnow())
    assert result.stdout.strip() in {totp.code_at(secret, s) for s in (step - 1, step)}
    uri = cli(scratch, "totp-code", "zj_command", "--uri")
    assert uri.stdout.startswith("otpauth://totp/") and f"secret={secret}" in uri.stdout

    assert cli(scratch, "totp-code", "xihu_clerk").returncode == 2  # a demo user without a second factor
    refused = cli(scratch | {"CC_ENV": "production"}, "totp-code", "zj_command")
    assert refused.returncode == 2 and "production" in refused.stderr

    reset = cli(scratch, "reset-second-factor", "zj_command")
    assert reset.returncode == 0, reset.stderr
    assert cli(scratch, "totp-code", "zj_command").returncode == 2
    assert cli(scratch, "reset-second-factor", "nobody_here").returncode == 2
