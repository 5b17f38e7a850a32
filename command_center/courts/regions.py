"""Address-to-region suggestion: which province, city and county a free-text Chinese address names.

A clerk types the address of the bank branch, property or person ("浙江省杭州市西湖区文三路90号", or just
"杭州西湖文三路") and the submit form offers the county-level division to route to. The names come from
the same GB/T 2260 dataset as the court directory (`dataset.py`), so every suggested code is a court's
code and fills the form's province → city → county picker directly.

Matching: every division is known by its full name (西湖区, 杭州市, 浙江省) and a short name without the
administrative suffix (西湖, 杭州, 浙江; 延边 for 延边朝鲜族自治州). Each county-level division whose name
occurs in the address scores by how it matched (full beats short) plus its own prefecture's and
province's matches, so "杭州西湖" picks 杭州市西湖区 over 南昌市西湖区. Names that overlap in the address
(吉林 inside 吉林市) count once, for the longer. A tie between divisions in different places is no
suggestion at that level: the answer stops at what the tied candidates share (the city, the province,
or nothing). A two-character county name alone (e.g. 丰县) needs its city or province in the address
too, so a street name does not pass for a county.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from pydantic import Field

from command_center.api import Schema
from command_center.courts.dataset import EXCLUDED_PROVINCES, division_data
from command_center.courts.directory import CourtDirectory

MAX_ADDRESS_LENGTH = 300

# Administrative suffixes, longest first; an ethnic autonomous name also drops its peoples
# (恩施土家族苗族自治州 → 恩施).
_SUFFIXES = (
    "特别行政区",
    "自治区",
    "自治州",
    "自治县",
    "自治旗",
    "地区",
    "新区",
    "林区",
    "特区",
    "省",
    "市",
    "区",
    "县",
    "旗",
    "盟",
)
_AUTONOMOUS = re.compile(r"^(.{2,}?)(?:维吾尔|(?:[^族]{1,5}族)+)自治(?:区|州|县|旗)$")

# Weights of a match by level and kind; a county's own match dominates, context breaks ties.
_WEIGHTS = {"county": (4.0, 3.0), "city": (2.0, 1.5), "province": (1.0, 0.8)}  # (full, short)


def short_name(name: str) -> str | None:
    """The name without its administrative suffix (浙江省 → 浙江), or None when under two characters."""
    match = _AUTONOMOUS.match(name)
    if match:
        return match.group(1)
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return None


class RegionSuggestQuery(Schema):
    address: str = Field(min_length=1, max_length=MAX_ADDRESS_LENGTH, description="the address as typed")


class RegionRef(Schema):
    code: str = Field(description="GB/T 2260 code; also the code of the court that serves it")
    name: str = Field(description="the division's name, e.g. 西湖区")
    court_name: str = Field(description="the court that serves it, e.g. 杭州市西湖区人民法院")


class RegionSuggestion(Schema):
    province: RegionRef | None = Field(description="null: the address names no province")
    city: RegionRef | None = Field(description="the prefecture-level division (intermediate court)")
    county: RegionRef | None = Field(description="the county-level division (basic court) to route to")
    matched: list[str] = Field(description="the parts of the address that named them, in address order")


@dataclass(frozen=True, slots=True)
class _Division:
    code: str
    name: str
    short: str | None


@dataclass(frozen=True, slots=True)
class _Match:
    start: int
    end: int
    full: bool

    def overlaps(self, other: _Match) -> bool:
        return self.start < other.end and other.start < self.end


class RegionIndex:
    """The division names of the directory's active courts, for matching addresses against."""

    def __init__(self, directory: CourtDirectory, divisions: Mapping[str, str]) -> None:
        self._directory = directory
        self._divisions: dict[str, _Division] = {}
        for code, name in divisions.items():
            court = directory.get(code)
            if code[:2] in EXCLUDED_PROVINCES or court is None or not court.active:
                continue
            self._divisions[code] = _Division(code, name, short_name(name))
        self._names: dict[str, list[tuple[str, bool]]] = {}  # name -> [(code, is_full_name)]
        for division in self._divisions.values():
            self._names.setdefault(division.name, []).append((division.code, True))
            if division.short:
                self._names.setdefault(division.short, []).append((division.code, False))

    def _found(self, address: str) -> dict[str, list[_Match]]:
        """Every division named in the address, with where and how (full or short name)."""
        found: dict[str, list[_Match]] = {}
        for name, owners in self._names.items():
            start = address.find(name)
            while start >= 0:
                for code, full in owners:
                    found.setdefault(code, []).append(_Match(start, start + len(name), full))
                start = address.find(name, start + 1)
        return found

    def _ref(self, code: str | None) -> RegionRef | None:
        if code is None:
            return None
        court = self._directory.get(code)
        if court is None:
            return None
        division = self._divisions.get(code)
        # Municipalities' districts have no prefecture in the dataset: the court names the group.
        name = division.name if division else court.name
        return RegionRef(code=code, name=name, court_name=court.name)

    def suggest(self, address: str) -> RegionSuggestion:
        """The best province, city and county for `address` (each null when it cannot tell)."""
        text = re.sub(r"\s+", "", address)
        found = self._found(text)
        candidates: list[tuple[float, str, list[_Match]]] = []
        for code in found:
            level = (
                "county" if not code.endswith("00") else "city" if not code.endswith("0000") else "province"
            )
            chain = [(level, code)]
            if level == "county":
                chain += [("city", code[:4] + "00"), ("province", code[:2] + "0000")]
            elif level == "city":
                chain += [("province", code[:2] + "0000")]
            score, used = self._score(chain, found)
            if score is None:
                continue
            candidates.append((score, code, used))
        if not candidates:
            return RegionSuggestion(province=None, city=None, county=None, matched=[])
        best = max(score for score, _, _ in candidates)
        top = [(code, used) for score, code, used in candidates if score == best]
        codes = [code for code, _ in top]
        province = _shared(codes, 2)
        below_province = all(not code.endswith("0000") for code in codes)
        city = _shared(codes, 4) if province and below_province else None
        county = codes[0] if len(codes) == 1 and not codes[0].endswith("00") else None
        matched = sorted({(m.start, m.end) for m in top[0][1]}) if len(top) == 1 else []
        return RegionSuggestion(
            province=self._ref(f"{province}0000" if province else None),
            city=self._ref(f"{city}00" if city else None),
            county=self._ref(county),
            matched=[text[start:end] for start, end in matched],
        )

    def _score(
        self, chain: list[tuple[str, str]], found: dict[str, list[_Match]]
    ) -> tuple[float | None, list[_Match]]:
        """The score of a division with its superiors' matches; None when its own match is too weak."""
        used: list[_Match] = []
        score = 0.0
        for position, (level, code) in enumerate(chain):
            matches = [m for m in found.get(code, []) if not any(m.overlaps(u) for u in used)]
            if position == 0:
                # The division's own name: its longest (then earliest) occurrence.
                matches.sort(key=lambda m: (-(m.end - m.start), not m.full, m.start))
            else:
                matches.sort(key=lambda m: (not m.full, m.start))
            if not matches:
                if position == 0:
                    return None, []
                continue
            match = matches[0]
            full_weight, short_weight = _WEIGHTS[level]
            score += full_weight if match.full else short_weight
            used.append(match)
        own = used[0]
        if chain[0][0] == "county" and own.end - own.start <= 2 and len(used) == 1:
            return None, []  # a two-character county name alone is too weak
        return score, used


def _shared(codes: list[str], length: int) -> str | None:
    """The code prefix of `length` every code shares, or None."""
    prefixes = {code[:length] for code in codes}
    return prefixes.pop() if len(prefixes) == 1 else None


@lru_cache(maxsize=4)
def region_index(directory: CourtDirectory) -> RegionIndex:
    """The index of a directory (built once per directory; directories are immutable)."""
    return RegionIndex(directory, division_data())


def suggest_region(directory: CourtDirectory, address: str) -> RegionSuggestion:
    """The province, city and county an address names, as codes of the directory's courts."""
    return region_index(directory).suggest(address)
