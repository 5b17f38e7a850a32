"""Imports every table module, so the metadata Alembic sees is complete."""

from __future__ import annotations

import importlib

from command_center.db import metadata

TABLE_MODULES = (
    "command_center.courts.models",
    "command_center.calendar.models",
    "command_center.identity.models",
    "command_center.audit.models",
    "command_center.outbox.models",
    "command_center.idempotency",
    "assistance.cases.models",
    "assistance.requests.models",
    "realtime.video.models",
    "assistance.escalations.models",
    "assistance.campaigns.models",
)


def load_all() -> None:
    for name in TABLE_MODULES:
        importlib.import_module(name)


load_all()

__all__ = ["metadata"]
