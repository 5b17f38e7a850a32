"""`make test`: the whole suite on SQLite, then on PostgreSQL when one answers.

CC_TEST_POSTGRES_URL names the server (default: the local one); CC_TEST_REQUIRE_POSTGRES=1 makes a
missing PostgreSQL a failure instead of a skip (CI sets it). Extra arguments go to pytest.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def _postgres_answers(url: str) -> bool:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn), timeout=5)
    except Exception:
        return False
    await conn.close()
    return True


def _pytest(label: str, database_url: str | None, args: list[str]) -> int:
    env = dict(os.environ)
    env.pop("CC_TEST_DATABASE_URL", None)
    if database_url:
        env["CC_TEST_DATABASE_URL"] = database_url
    print(f"\n=== Test suite on {label} ===", flush=True)
    return subprocess.call([sys.executable, "-m", "pytest", *args], env=env)


def main() -> int:
    args = sys.argv[1:] or ["-q"]
    results: list[tuple[str, int]] = [("SQLite", _pytest("SQLite", None, args))]
    postgres = os.environ.get("CC_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    required = os.environ.get("CC_TEST_REQUIRE_POSTGRES") == "1"
    if asyncio.run(_postgres_answers(postgres)):
        results.append(("PostgreSQL", _pytest("PostgreSQL", postgres, args)))
    elif required:
        print(f"PostgreSQL is required (CC_TEST_REQUIRE_POSTGRES=1) but {postgres} does not answer.")
        results.append(("PostgreSQL", 1))
    else:
        print(f"\nPostgreSQL at {postgres} does not answer: the suite ran on SQLite only.")
    print("\n=== Databases tested ===")
    for label, code in results:
        print(f"{label}: {'passed' if code == 0 else f'FAILED (pytest exit {code})'}")
    return 0 if all(code == 0 for _, code in results) else 1


if __name__ == "__main__":
    sys.exit(main())
