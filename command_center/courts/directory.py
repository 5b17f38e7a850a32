"""The in-memory court directory: built once from the `court` rows, then answered from dicts.

Every question about the hierarchy (superiors, subtrees, "is this court within that one") is a dict
lookup here, so routing and authorization never query the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.courts.dataset import SUPREME_COURT_CODE
from command_center.courts.enums import CourtLevel
from command_center.courts.models import Court
from command_center.errors import NotFound


@dataclass(frozen=True, slots=True)
class CourtEntry:
    """One court as the directory holds it (readable by `CourtRead.model_validate`)."""

    code: str
    name: str
    level: CourtLevel
    region_code: str
    superior_code: str | None
    case_prefix: str
    province: str | None
    active: bool = True


class CourtDirectory:
    """The court hierarchy, immutable once built; rebuild it after the `court` table changes."""

    def __init__(self, courts: Iterable[Any]) -> None:
        entries: dict[str, CourtEntry] = {}
        for court in courts:
            entry = CourtEntry(
                code=court.code,
                name=court.name,
                level=CourtLevel(court.level),
                region_code=court.region_code,
                superior_code=court.superior_code,
                case_prefix=court.case_prefix,
                province=court.province,
                active=getattr(court, "active", True),
            )
            entries[entry.code] = entry
        if SUPREME_COURT_CODE not in entries:
            raise ValueError("the directory has no Supreme People's Court (000000); load the courts first")

        children: dict[str, list[str]] = {code: [] for code in entries}
        for entry in entries.values():
            if entry.superior_code is None:
                if entry.code != SUPREME_COURT_CODE:
                    raise ValueError(f"court {entry.code} has no superior")
                continue
            if entry.superior_code not in entries:
                raise ValueError(f"court {entry.code} names an unknown superior {entry.superior_code}")
            children[entry.superior_code].append(entry.code)

        # lineage: the court itself, then its superiors up to the SPC (at most four codes).
        lineage: dict[str, tuple[str, ...]] = {}
        for code in entries:
            chain = [code]
            superior = entries[code].superior_code
            while superior is not None:
                if len(chain) > len(CourtLevel):
                    raise ValueError(f"the superiors of court {code} form a cycle")
                chain.append(superior)
                superior = entries[superior].superior_code
            lineage[code] = tuple(chain)

        self._entries = entries
        self._children = {code: tuple(sorted(kids)) for code, kids in children.items()}
        self._lineage = lineage
        self._lineage_sets = {code: frozenset(chain) for code, chain in lineage.items()}
        self._subtrees: dict[str, frozenset[str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, code: object) -> bool:
        return code in self._entries

    def __iter__(self) -> Iterator[CourtEntry]:
        return iter(sorted(self._entries.values(), key=lambda entry: entry.code))

    @property
    def supreme(self) -> CourtEntry:
        return self._entries[SUPREME_COURT_CODE]

    def get(self, code: str) -> CourtEntry | None:
        return self._entries.get(code)

    def require(self, code: str, *, field: str = "court_code") -> CourtEntry:
        """The court with `code`, or NotFound naming the field the code came from."""
        entry = self._entries.get(code)
        if entry is None:
            raise NotFound(
                f"No court with code {code!r} in the court directory.",
                details={"field": field, "value": code},
            )
        return entry

    def children(self, code: str) -> tuple[CourtEntry, ...]:
        """The courts directly below `code`, by code; empty for a basic court or an unknown code."""
        return tuple(self._entries[child] for child in self._children.get(code, ()))

    def ancestors(self, code: str) -> tuple[CourtEntry, ...]:
        """The superiors of `code`, nearest first, ending with the SPC; empty for the SPC."""
        return tuple(self._entries[superior] for superior in self._lineage.get(code, ())[1:])

    def is_within(self, code: str, ancestor_code: str) -> bool:
        """True when `code` is `ancestor_code` itself or one of its subordinates (at any depth)."""
        chain = self._lineage_sets.get(code)
        return chain is not None and ancestor_code in chain

    def subtree_codes(self, code: str) -> frozenset[str]:
        """`code` and every court below it; empty for an unknown code."""
        subtree = self._subtrees.get(code)
        if subtree is None:
            if code not in self._entries:
                return frozenset()
            found: list[str] = []
            stack = [code]
            while stack:
                current = stack.pop()
                found.append(current)
                stack.extend(self._children[current])
            subtree = self._subtrees[code] = frozenset(found)
        return subtree

    def jurisdiction_prefix(self, code: str) -> str:
        """The code prefix every court in `code`'s subtree shares ("" for the SPC): "33" for 330000."""
        level = self.require(code).level
        return {CourtLevel.supreme: "", CourtLevel.high: code[:2], CourtLevel.intermediate: code[:4]}.get(
            level, code
        )

    def lowest_common(self, first: str, second: str) -> CourtEntry:
        """The lowest court whose subtree holds both courts (one of them, if it is above the other)."""
        others = self._lineage_sets[second]
        for code in self._lineage[first]:
            if code in others:
                return self._entries[code]
        raise ValueError(f"courts {first} and {second} share no superior")  # unreachable: all reach the SPC

    def by_level(self, level: CourtLevel) -> tuple[CourtEntry, ...]:
        return tuple(entry for entry in self if entry.level is level)

    def counts_by_level(self) -> dict[CourtLevel, int]:
        counts = dict.fromkeys(CourtLevel, 0)
        for entry in self._entries.values():
            counts[entry.level] += 1
        return counts

    def search(self, text: str, *, limit: int = 20) -> list[CourtEntry]:
        """Active courts whose name contains `text` or whose code or case prefix starts with it."""
        found = []
        for entry in self:
            if entry.active and (
                text in entry.name or entry.code.startswith(text) or entry.case_prefix.startswith(text)
            ):
                found.append(entry)
                if len(found) >= limit:
                    break
        return found


async def load_directory(session: AsyncSession) -> CourtDirectory:
    """Reads every court (active or not) in one query and builds the directory."""
    columns = (
        Court.code,
        Court.name,
        Court.level,
        Court.region_code,
        Court.superior_code,
        Court.case_prefix,
        Court.province,
        Court.active,
    )
    rows = (await session.execute(select(*columns).order_by(Court.code))).all()
    return CourtDirectory(rows)
