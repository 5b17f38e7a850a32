"""Alembic environment: always runs on a connection handed in by command_center.migrate."""

from __future__ import annotations

from typing import Any

from alembic import context

from command_center.db import UtcDateTime
from command_center.models import metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Migrations spell out the column type under `UtcDateTime`, so they never import the models."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
