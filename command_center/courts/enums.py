"""The four levels of the people's courts (Organic Law of the People's Courts, art. 12)."""

from __future__ import annotations

from enum import StrEnum


class CourtLevel(StrEnum):
    supreme = "supreme"
    high = "high"
    intermediate = "intermediate"
    basic = "basic"

    @property
    def rank(self) -> int:
        """0 for the Supreme People's Court, 3 for a basic court."""
        return _RANK[self]


_RANK = {CourtLevel.supreme: 0, CourtLevel.high: 1, CourtLevel.intermediate: 2, CourtLevel.basic: 3}
