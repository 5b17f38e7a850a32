"""A private database per test module, for tests that need concurrent, committed transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from command_center.db import Database
from command_center.settings import Settings
from tests.command_center.outbox.databases import private_database


@pytest.fixture(scope="module")
async def private_db(settings: Settings, tmp_root: Path) -> AsyncIterator[Database]:
    async with private_database(settings, tmp_root) as db:
        yield db
