"""Alembic migrations are the only way the schema is made, in tests too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Brings the schema to `revision`."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync_conn: command.upgrade(_config(sync_conn), revision))


async def schema_differences(engine: AsyncEngine) -> list[Any]:
    """What autogenerate would change: empty when the migrations match the models."""
    from command_center.models import metadata

    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: compare_metadata(
                MigrationContext.configure(sync_conn, opts={"compare_type": True}), metadata
            )
        )


async def autogenerate(engine: AsyncEngine, *, message: str, rev_id: str) -> None:
    """Writes a new revision with the difference between the migrated database and the models."""
    async with engine.begin() as conn:
        await conn.run_sync(
            lambda sync_conn: command.revision(
                _config(sync_conn), message=message, autogenerate=True, rev_id=rev_id
            )
        )
