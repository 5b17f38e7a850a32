"""Checks on a new enforcement case that go beyond the schema: the case number, ID numbers, dates.

* Case numbers (案号) follow the SPC's 《关于人民法院案件案号的若干规定》 (法〔2015〕137号): the year the
  case was received in parentheses, the court's abbreviation (法院代字, e.g. 浙0106), the case-type word
  (类型代字), the serial number and 号 — `(2026)浙0106执1234号`. Full-width parentheses, as printed on
  court documents, are accepted and stored as ASCII ones; leading zeros of the serial are dropped.
* A person is identified by an 18-character resident ID number (公民身份号码, GB 11643-1999): 6-digit
  region, 8-digit birth date, 3-digit sequence, and a check character (0-9 or X) over the first 17.
* An organization is identified by its unified social credit code (统一社会信用代码, GB 32100-2015):
  18 characters from a 31-letter alphabet, the last a check character.

Every problem is reported with the field it concerns ("respondents[1].id_number: ..."), all at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from assistance.enums import PartyKind
from command_center.calendar.periods import SHANGHAI
from command_center.errors import InvalidInput
from command_center.masking import (
    credit_code_check_char,
    credit_code_is_valid,
    id_number_check_digit,
    id_number_is_valid,
)

if TYPE_CHECKING:
    from assistance.cases.schemas import CaseCreate, PartyCreate
    from command_center.courts.directory import CourtEntry

FIRST_CASE_YEAR = 1990
# Enforcement case-type words (执行类案件类型代字): 执 enforcement, 执恢 resumed enforcement, 执保
# property preservation, 执异 enforcement objection, 执复 enforcement review, 执监 enforcement
# supervision, 执协 enforcement coordination.
CASE_TYPE_WORDS = ("执", "执恢", "执保", "执异", "执复", "执监", "执协")
# Resident ID numbers of people born before 1900 were never issued in the 18-character form.
EARLIEST_BIRTH = date(1900, 1, 1)

_FULL_WIDTH = str.maketrans({"（": "(", "）": ")"})
_CASE_NUMBER = re.compile(
    r"^\((?P<year>[0-9]{4})\)"
    r"(?P<court>[^()执0-9][^()执]*)"
    r"(?P<type>执[恢保异复监协]?)"
    r"(?P<serial>[0-9]{1,8})号$"
)
# Any type word, to tell "not an enforcement case" apart from "not a case number at all".
_ANY_CASE_NUMBER = re.compile(r"^\([0-9]{4}\)[^()0-9]+[0-9]*(?P<type>[^()0-9]+)[0-9]+号$")
_USCC_ALPHABET = frozenset("0123456789ABCDEFGHJKLMNPQRTUWXY")


def today_in_china() -> date:
    """Today's date in Asia/Shanghai, the calendar every court date is written in."""
    return datetime.now(SHANGHAI).date()


@dataclass(frozen=True, slots=True)
class CaseNumber:
    """A parsed case number; `text` is its normalized form."""

    year: int
    court_prefix: str
    case_type: str
    serial: int

    @property
    def text(self) -> str:
        return f"({self.year}){self.court_prefix}{self.case_type}{self.serial}号"


def normalize_case_number(value: str) -> str:
    """Trims the case number and writes full-width parentheses as ASCII ones (nothing else changes)."""
    return value.strip().translate(_FULL_WIDTH)


def parse_case_number(value: str) -> CaseNumber | None:
    """The parts of a well-formed case number, or None when it is not one."""
    match = _CASE_NUMBER.match(normalize_case_number(value))
    if match is None:
        return None
    return CaseNumber(
        year=int(match["year"]),
        court_prefix=match["court"],
        case_type=match["type"],
        serial=int(match["serial"]),
    )


def case_number_problem(value: str, *, court: CourtEntry, today: date) -> str | None:
    """Why `value` is not a valid enforcement case number of `court`, or None when it is."""
    parsed = parse_case_number(value)
    if parsed is None:
        other = _ANY_CASE_NUMBER.match(normalize_case_number(value))
        if other is not None and other["type"] not in CASE_TYPE_WORDS:
            return (
                f"the case-type word {other['type']} is not an enforcement case type "
                f"({', '.join(CASE_TYPE_WORDS)})"
            )
        return (
            "must look like (2026)浙0106执1234号: the year in parentheses, the court's abbreviation, "
            f"a case-type word ({', '.join(CASE_TYPE_WORDS)}), the serial number and 号"
        )
    if not FIRST_CASE_YEAR <= parsed.year <= today.year + 1:
        return f"the year {parsed.year} must be between {FIRST_CASE_YEAR} and {today.year + 1}"
    if parsed.court_prefix != court.case_prefix:
        return (
            f"the court abbreviation {parsed.court_prefix} is not that of the filing court "
            f"{court.name} ({court.case_prefix})"
        )
    if parsed.serial < 1:
        return "the serial number must be at least 1"
    return None


def birth_date_of(id_number: str) -> date | None:
    """The birth date written in digits 7-14 of a resident ID number, or None if it is no date."""
    digits = id_number[6:14]
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def resident_id_problem(value: str, *, today: date) -> str | None:
    """Why `value` (already trimmed and upper-cased) is not a resident ID number, or None."""
    if len(value) != 18 or not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
        if len(value) == 18 and credit_code_is_valid(value):
            return (
                "a person is identified by an 18-digit resident ID number, not a unified social credit code"
            )
        return "must be an 18-character resident ID number: 17 digits and a check digit (0-9 or X)"
    born = birth_date_of(value)
    if born is None:
        return f"digits 7-14 ({value[6:14]}) are not a birth date"
    if not EARLIEST_BIRTH <= born <= today:
        return f"the birth date {born.isoformat()} is not plausible"
    if not id_number_is_valid(value):
        return f"the check digit is wrong (expected {id_number_check_digit(value[:17])})"
    return None


def credit_code_problem(value: str) -> str | None:
    """Why `value` (already trimmed and upper-cased) is not a unified social credit code, or None."""
    if len(value) != 18 or any(c not in _USCC_ALPHABET for c in value):
        return (
            "must be an 18-character unified social credit code (digits and the capital letters "
            "A-Y except I, O, S, V and Z)"
        )
    if not credit_code_is_valid(value):
        if id_number_is_valid(value):
            return "an organization is identified by its unified social credit code, not a resident ID number"
        return f"the check character is wrong (expected {credit_code_check_char(value[:17])})"
    return None


def normalize_id_number(value: str) -> str:
    """Trims and upper-cases an ID number (a lower-case x check digit is written X)."""
    return value.strip().upper()


def party_id_problem(kind: PartyKind, id_number: str, *, today: date) -> str | None:
    """Why `id_number` does not identify a party of `kind`, or None."""
    if kind is PartyKind.person:
        return resident_id_problem(id_number, today=today)
    return credit_code_problem(id_number)


@dataclass
class Problems:
    """Collects field problems and raises them as one InvalidInput (the first one in the message)."""

    items: list[dict[str, str]] = field(default_factory=list)

    def add(self, field_name: str, message: str) -> None:
        self.items.append({"field": field_name, "message": message})

    def raise_if_any(self) -> None:
        if self.items:
            first = self.items[0]
            raise InvalidInput(f"{first['field']}: {first['message']}", details=list(self.items))


def check_new_case(data: CaseCreate, *, court: CourtEntry, today: date) -> CaseCreate:
    """A copy of `data` with the case number and ID numbers normalized; InvalidInput naming every
    field that is wrong (case number, filing date, each party's ID number) otherwise."""
    problems = Problems()
    case_number = normalize_case_number(data.case_number)
    problem = case_number_problem(case_number, court=court, today=today)
    if problem:
        problems.add("case_number", problem)
    else:
        parsed = parse_case_number(case_number)
        assert parsed is not None
        case_number = parsed.text
    if data.filed_on > today:
        problems.add("filed_on", f"{data.filed_on.isoformat()} is in the future")

    def party(where: str, item: PartyCreate) -> PartyCreate:
        id_number = normalize_id_number(item.id_number)
        problem = party_id_problem(item.kind, id_number, today=today)
        if problem:
            problems.add(f"{where}.id_number", problem)
        return item.model_copy(update={"id_number": id_number, "name": item.name.strip()})

    applicant = party("applicant", data.applicant)
    respondents = [party(f"respondents[{i}]", r) for i, r in enumerate(data.respondents)]
    seen: dict[str, int] = {}
    for i, respondent in enumerate(respondents):
        if respondent.id_number in seen:
            problems.add(
                f"respondents[{i}].id_number",
                f"respondents[{seen[respondent.id_number]}] has the same ID number",
            )
        seen.setdefault(respondent.id_number, i)
    if applicant.id_number in seen:
        problems.add(
            f"respondents[{seen[applicant.id_number]}].id_number",
            "the applicant has the same ID number; a party cannot enforce a claim against itself",
        )
    problems.raise_if_any()
    return data.model_copy(
        update={"case_number": case_number, "applicant": applicant, "respondents": respondents}
    )
