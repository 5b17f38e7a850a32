"""The shared clients of one app node, built in the lifespan (never at import time)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from command_center.db import Database
from command_center.settings import Settings

if TYPE_CHECKING:
    from command_center.calendar import LegalCalendar
    from command_center.courts.directory import CourtDirectory
    from command_center.identity.auth import Authenticator


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: Redis
    directory: CourtDirectory
    calendar: LegalCalendar
    authenticator: Authenticator
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    async def start(cls, settings: Settings, *, db: Database | None = None) -> Services:
        from command_center.calendar.service import load_calendar
        from command_center.courts.directory import load_directory
        from command_center.identity.auth import Authenticator

        db = db or Database.from_settings(settings)
        redis = Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0", decode_responses=True)
        async with db.unit_of_work() as session:
            directory = await load_directory(session)
            calendar = await load_calendar(session)
        return cls(
            settings=settings,
            db=db,
            redis=redis,
            directory=directory,
            calendar=calendar,
            authenticator=Authenticator(db, settings),
        )

    async def reload_calendar(self) -> None:
        """Rebuilds the in-memory calendar after an admin loaded a year."""
        from command_center.calendar.service import load_calendar

        async with self.db.unit_of_work() as session:
            self.calendar = await load_calendar(session)

    async def close(self, *, dispose_db: bool = True) -> None:
        await self.redis.aclose()
        if dispose_db:
            await self.db.dispose()
