"""A private, migrated database for tests that need real concurrent transactions.

The shared test database runs each test inside one rolled-back transaction on one connection, where
nothing is concurrent. Tests of locking and sequencing need several connections that commit, so they
get a database of their own (a SQLite file, or a new PostgreSQL database on the test server).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from command_center.db import Database
from command_center.migrate import upgrade
from command_center.settings import Settings


@asynccontextmanager
async def private_database(settings: Settings, tmp_dir: Path) -> AsyncIterator[Database]:
    if settings.is_sqlite:
        url = f"sqlite+aiosqlite:///{tmp_dir / f'private_{uuid.uuid4().hex[:8]}.db'}"
        db = Database.from_settings(settings.model_copy(update={"database_url": url}))
        await upgrade(db.engine)
        try:
            yield db
        finally:
            await db.dispose()
        return
    name = f"cc_private_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(settings.database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(settings.database_url).set(database=name).render_as_string(hide_password=False)
    db = Database.from_settings(settings.model_copy(update={"database_url": url}))
    try:
        await upgrade(db.engine)
        yield db
    finally:
        await db.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
