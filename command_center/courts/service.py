"""Court data access: loading the directory from the dataset, reading and listing courts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.courts.dataset import DATASET, CourtSeed, generate_courts
from command_center.courts.enums import CourtLevel
from command_center.courts.models import Court
from command_center.db import utcnow

# The columns a dataset run owns; `updated_at` changes only when one of them does.
_COMPARED = ("name", "level", "region_code", "superior_code", "case_prefix", "province", "active")


@dataclass
class LevelCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0


@dataclass
class LoadResult:
    """What one `load_courts` run changed, per court level."""

    dataset: str
    levels: dict[CourtLevel, LevelCounts] = field(
        default_factory=lambda: {level: LevelCounts() for level in CourtLevel}
    )

    @property
    def inserted(self) -> int:
        return sum(counts.inserted for counts in self.levels.values())

    @property
    def updated(self) -> int:
        return sum(counts.updated for counts in self.levels.values())

    @property
    def unchanged(self) -> int:
        return sum(counts.unchanged for counts in self.levels.values())

    @property
    def deactivated(self) -> int:
        return sum(counts.deactivated for counts in self.levels.values())

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.deactivated)

    def summary(self) -> str:
        """One line per level and a total line, for the command line."""
        lines = []
        for level, counts in self.levels.items():
            lines.append(
                f"{level.value:<12} inserted {counts.inserted:>5}  updated {counts.updated:>5}  "
                f"unchanged {counts.unchanged:>5}  deactivated {counts.deactivated:>5}"
            )
        lines.append(
            f"{'total':<12} inserted {self.inserted:>5}  updated {self.updated:>5}  "
            f"unchanged {self.unchanged:>5}  deactivated {self.deactivated:>5}"
        )
        return "\n".join(lines)


async def load_courts(
    session: AsyncSession, *, courts: Sequence[CourtSeed] | None = None, now: datetime | None = None
) -> LoadResult:
    """Upserts the court table from the dataset (or `courts`): inserts new courts, updates changed
    ones, marks courts missing from the dataset inactive and never deletes one. Flushes, no commit."""
    seeds = list(generate_courts() if courts is None else courts)
    now = now or utcnow()
    result = LoadResult(dataset=DATASET)

    columns = [getattr(Court, name) for name in ("code", *_COMPARED)]
    existing = {row.code: row for row in (await session.execute(select(*columns))).all()}

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for seed in sorted(seeds, key=lambda s: s.code):  # superiors sort before their subordinates
        wanted = {
            "name": seed.name,
            "level": seed.level,
            "region_code": seed.region_code,
            "superior_code": seed.superior_code,
            "case_prefix": seed.case_prefix,
            "province": seed.province,
            "active": True,
        }
        counts = result.levels[seed.level]
        row = existing.pop(seed.code, None)
        if row is None:
            inserts.append({"code": seed.code, **wanted, "updated_at": now})
            counts.inserted += 1
        elif any(getattr(row, name) != value for name, value in wanted.items()):
            updates.append({"code": seed.code, **wanted, "updated_at": now})
            counts.updated += 1
        else:
            counts.unchanged += 1

    # Whatever is left in `existing` is no longer in the dataset: kept, but inactive.
    deactivations = []
    for code, row in sorted(existing.items()):
        if row.active:
            deactivations.append({"code": code, "active": False, "updated_at": now})
            result.levels[CourtLevel(row.level)].deactivated += 1
        else:
            result.levels[CourtLevel(row.level)].unchanged += 1

    # Inserts first, so an updated court may name a new superior. Both are one executemany each
    # (insertmanyvalues batches on SQLite and asyncpg), not a round trip per court.
    if inserts:
        await session.execute(insert(Court), inserts)
    for batch in (updates, deactivations):  # by primary key; one executemany per set of columns
        if batch:
            await session.execute(update(Court), batch)
    await session.flush()
    return result


async def get(session: AsyncSession, *, code: str) -> Court | None:
    """The court with `code`, active or not."""
    return await session.get(Court, code)


def _region_prefix(region: str) -> str:
    """ "330000" means all of 浙江 ("33"), "330100" all of 杭州 ("3301")."""
    while len(region) > 2 and region.endswith("00"):
        region = region[:-2]
    return region


async def list_courts(
    session: AsyncSession,
    *,
    q: str | None = None,
    level: CourtLevel | None = None,
    region: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> tuple[list[Court], int]:
    """Active courts matching the filters, ordered by code: one page and the total count."""
    conditions = [Court.active.is_(True)]
    if q:
        conditions.append(
            or_(
                Court.name.contains(q, autoescape=True),
                Court.code.startswith(q, autoescape=True),
                Court.case_prefix.startswith(q, autoescape=True),
            )
        )
    if level is not None:
        conditions.append(Court.level == level)
    if region:
        conditions.append(Court.code.startswith(_region_prefix(region), autoescape=True))
    total = await session.scalar(select(func.count()).select_from(Court).where(*conditions))
    rows = await session.scalars(
        select(Court).where(*conditions).order_by(Court.code).offset((page - 1) * page_size).limit(page_size)
    )
    return list(rows), int(total or 0)
