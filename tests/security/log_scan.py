"""Finding personal data that escaped masking in log text: resident ID numbers and bank account numbers.

A resident ID number counts when it is 18 characters whose GB 11643 check character is right; a bank
account number when it is a run of 16 to 19 digits (plain or in groups of four) that passes the Luhn
check, as bank card numbers do. Masked forms (`3301**********1234`) contain no such run. Shorter digit
runs are left alone on purpose: millisecond timestamps and sequence numbers would look like accounts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from command_center.masking import id_number_is_valid

_B, _E = r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])"
_ID = re.compile(rf"{_B}\d{{17}}[\dXx]{_E}")
_ACCOUNT = re.compile(rf"{_B}(?:\d{{16,19}}|\d{{4}}(?:[ -]\d{{4}}){{3}}(?:[ -]\d{{1,3}})?){_E}")


@dataclass(frozen=True)
class Leak:
    kind: str  # "id_number" or "account"
    value: str
    where: str  # file:line

    def __str__(self) -> str:
        return f"{self.where}: unmasked {self.kind} {self.value[:4]}…{self.value[-4:]}"


def luhn_is_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def scan_text(text: str, where: str = "") -> Iterator[Leak]:
    """Every unmasked resident ID number and bank account number in `text`."""
    for match in _ID.finditer(text):
        if id_number_is_valid(match.group(0)):
            yield Leak("id_number", match.group(0), where)
    for match in _ACCOUNT.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if len(digits) == 18 and id_number_is_valid(digits):
            continue  # reported above as an ID number
        if luhn_is_valid(digits):
            yield Leak("account", match.group(0), where)


def scan_lines(lines: Iterable[str], name: str) -> list[Leak]:
    return [leak for n, line in enumerate(lines, 1) for leak in scan_text(line, f"{name}:{n}")]


def scan_file(path: Path) -> list[Leak]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        return scan_lines(fh, path.name)
