"""Masking of personal data everywhere but the record itself: audit details, events, logs.

Resident ID numbers (GB 11643) and unified social credit codes (GB 32100) keep their first and last
four characters, bank account numbers their last four digits, phone numbers their first three and
last four digits. `mask_text` finds these inside free text; `mask_data` walks JSON-like values;
`jsonable` turns a value into plain JSON before it is masked and stored. Masking errs on the side of hiding: a digit string that merely looks like an account is masked too.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import functools
import math
import re
from collections.abc import Callable
from typing import Any

MASK = "*"

# GB 11643-1999: weights of the first 17 digits, and the check character for (sum mod 11).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# GB 32100-2015: the 31 characters of a credit code (no I, O, Z, S, V) and the weights of the first 17.
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_CLASS = "0-9A-HJ-NPQRTUWXY"

# Patterns in free text are delimited by anything but an ASCII letter or digit, so a number next to
# Chinese text ("身份证号330106…号") is found while digit runs inside hex digests are left alone.
_B = r"(?<![0-9A-Za-z])"
_E = r"(?![0-9A-Za-z])"
_TEXT_PATTERN = re.compile(
    "|".join(
        (
            rf"(?P<id>{_B}\d{{17}}[\dXx]{_E})",
            rf"(?P<uscc>{_B}[{_USCC_CLASS}]{{2}}\d{{6}}[{_USCC_CLASS}]{{10}}{_E})",
            # Mobile numbers, optionally with +86/0086 and written 3-4-4 with spaces or hyphens.
            rf"(?P<mobile>{_B}(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{{4}}){{2}}{_E})",
            # Landlines with an area code: 010-12345678, 0571 8765 4321.
            rf"(?P<landline>{_B}0\d{{2,3}}[ -]\d{{3,4}}[ -]?\d{{4}}{_E})",
            # Bank accounts: 12-19 digits, plain or in groups of four.
            rf"(?P<account>{_B}(?:\d{{12,19}}|\d{{4}}(?:[ -]\d{{4}}){{2,3}}(?:[ -]\d{{1,4}})?){_E})",
        )
    )
)


def id_number_check_digit(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of a resident ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def id_number_is_valid(value: str) -> bool:
    """True for an 18-character resident ID number whose check character is right."""
    value = value.strip().upper()
    if len(value) != 18 or not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
        return False
    return id_number_check_digit(value[:17]) == value[17]


def credit_code_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a unified social credit code."""
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def credit_code_is_valid(value: str) -> bool:
    """True for an 18-character unified social credit code whose check character is right."""
    value = value.strip().upper()
    if len(value) != 18 or any(c not in _USCC_CHARS for c in value):
        return False
    return credit_code_check_char(value[:17]) == value[17]


def _keep(value: str, head: int, tail: int) -> str:
    """Masks every character but the first `head` and last `tail`; short values are masked whole."""
    if len(value) <= head + tail:
        return MASK * len(value)
    return value[:head] + MASK * (len(value) - head - tail) + value[len(value) - tail :]


def _keep_digits(value: str, head: int, tail: int) -> str:
    """Like `_keep` but counts digits only, so separators and a country prefix keep their place."""
    positions = [i for i, c in enumerate(value) if c.isdigit()]
    if len(positions) <= head + tail:
        hidden = set(positions)
    else:
        hidden = set(positions[head : len(positions) - tail])
    return "".join(MASK if i in hidden else c for i, c in enumerate(value))


def mask_id_number(value: str) -> str:
    """Hides all but the first 4 and last 4 characters: 330106199001011234 -> 3301**********1234."""
    return _keep(value.strip(), 4, 4)


def mask_credit_code(value: str) -> str:
    """Hides all but the first 4 and last 4 characters of a unified social credit code."""
    return _keep(value.strip(), 4, 4)


def mask_account(value: str) -> str:
    """Hides every digit but the last 4 (separators stay): 6222021234567891234 -> ***************1234."""
    return _keep_digits(value.strip(), 0, 4)


def mask_phone(value: str) -> str:
    """Hides all digits but the first 3 and last 4: 13812345678 -> 138****5678 (+86 kept, not counted)."""
    value = value.strip()
    match = re.match(r"(\+|00)?86[ -]?(?=1\d)", value)
    prefix = match.group(0) if match and sum(c.isdigit() for c in value) > 11 else ""
    return prefix + _keep_digits(value[len(prefix) :], 3, 4)


def _mask_match(match: re.Match[str]) -> str:
    kind, value = match.lastgroup, match.group(0)
    if kind == "id":
        # An 18-digit string that fails the ID check is more likely an account: show only its tail.
        if value[17].isdigit() and not id_number_is_valid(value):
            return mask_account(value)
        return mask_id_number(value)
    if kind == "uscc":
        return mask_credit_code(value)
    if kind in ("mobile", "landline"):
        return mask_phone(value)
    return mask_account(value)


def mask_text(text: str) -> str:
    """Masks every ID number, credit code, bank account and phone number found in `text`."""
    if not text or not any(c.isdigit() for c in text):
        return text
    return _TEXT_PATTERN.sub(_mask_match, text)


# Keys whose values are personal identifiers, masked whole whatever their shape. A key matches when
# its trailing words (snake_case or camelCase) equal one of these, e.g. "respondent_id_number".
_KEY_MASKS: dict[tuple[str, ...], Callable[[str], str]] = {
    **dict.fromkeys(
        [("id", "number"), ("id", "no"), ("id", "card"), ("identity", "number"), ("resident", "id")],
        mask_id_number,
    ),
    **dict.fromkeys([("credit", "code"), ("uscc",)], mask_credit_code),
    **dict.fromkeys(
        [("account",), ("account", "number"), ("account", "no"), ("card", "number"), ("bank", "card")],
        mask_account,
    ),
    **dict.fromkeys([("phone",), ("phone", "number"), ("mobile",), ("telephone",), ("tel",)], mask_phone),
}
_LONGEST_KEY = max(len(k) for k in _KEY_MASKS)


def _key_words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)
    return [w for w in re.split(r"[^0-9A-Za-z]+", spaced.lower()) if w]


@functools.lru_cache(maxsize=4096)  # keys come from a small vocabulary; splitting them is the slow part
def _mask_for_key(key: Any) -> Callable[[str], str] | None:
    if not isinstance(key, str):
        return None
    words = _key_words(key)
    for size in range(min(_LONGEST_KEY, len(words)), 0, -1):
        masker = _KEY_MASKS.get(tuple(words[-size:]))
        if masker:
            return masker
    return None


def mask_data(value: Any) -> Any:
    """A copy of a JSON-like value with personal identifiers masked; the input is not changed.

    Values under identifier keys (id_number, credit_code, account, phone, ...) are masked by their
    key's rule even when malformed; every other string is passed through `mask_text`.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            masker = _mask_for_key(key)
            if masker and isinstance(item, str | int) and not isinstance(item, bool):
                out[key] = masker(str(item))
            elif masker and isinstance(item, list | tuple):
                out[key] = [masker(str(v)) if isinstance(v, str | int) else mask_data(v) for v in item]
            else:
                out[key] = mask_data(item)
        return out
    if isinstance(value, list | tuple):
        return type(value)(mask_data(item) for item in value)
    if isinstance(value, str):
        return mask_text(value)
    return value


def jsonable(value: Any) -> Any:
    """The plain-JSON form of a value (dates as ISO strings, tuples as lists, keys as strings).

    Audit details and event payloads pass through here before masking, so what is hashed or sent is
    exactly what the database gives back.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)
