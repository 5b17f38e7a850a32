"""Alembic migrations are the only source of the schema, and they match the models exactly."""

from __future__ import annotations

from command_center.db import Database
from command_center.migrate import schema_differences


async def test_autogenerate_finds_no_difference_between_models_and_migrations(database: Database) -> None:
    assert await schema_differences(database.engine) == []
