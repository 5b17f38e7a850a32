"""Language negotiation, the formatting filters, and the message catalogs being complete and compiled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from command_center.pages import negotiate_locale, safe_next, shanghai_time, yuan
from command_center.settings import PROJECT_ROOT

TRANSLATIONS = PROJECT_ROOT / "frontend" / "translations"


@pytest.mark.parametrize(
    ("cookie", "accept_language", "expected"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh_Hans"),
        (None, "zh-TW", "zh_Hans"),
        (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        (None, "en-GB", "en"),
        (None, "fr-FR,en;q=0.5,zh;q=0.7", "zh_Hans"),  # by quality, not by order
        (None, "zh;q=0,en", "en"),  # q=0 means "not acceptable"
        (None, "de-DE,fr;q=0.9", "zh_Hans"),
        (None, None, "zh_Hans"),
        (None, "", "zh_Hans"),
        (None, "*", "zh_Hans"),
        ("en", "zh-CN", "en"),
        ("zh_Hans", "en-US", "zh_Hans"),
        ("fr", "en-US", "en"),  # an unknown cookie value is ignored
    ],
)
def test_the_cookie_then_chinese_or_english_preference_then_chinese(
    cookie: str | None, accept_language: str | None, expected: str
) -> None:
    assert negotiate_locale(cookie, accept_language) == expected


@pytest.mark.parametrize(
    ("fen", "shown"),
    [
        (0, "¥0.00"),
        (5, "¥0.05"),
        (123_456_789, "¥1,234,567.89"),
        (100_000, "¥1,000.00"),
        (-250, "-¥2.50"),
        (None, "—"),
    ],
)
def test_amounts_in_fen_are_shown_in_yuan(fen: int | None, shown: str) -> None:
    assert yuan(fen) == shown


def test_times_are_shown_in_shanghai() -> None:
    assert shanghai_time(datetime(2026, 1, 31, 16, 30, tzinfo=UTC)) == "2026-02-01 00:30"
    assert shanghai_time(datetime(2026, 1, 31, 16, 30)) == "2026-02-01 00:30"  # naive: UTC (SQLite)
    assert (
        shanghai_time(datetime(2026, 1, 31, 9, 0, tzinfo=timezone(timedelta(hours=-5)))) == "2026-01-31 22:00"
    )
    assert shanghai_time("2026-06-30T16:00:00+00:00", "%Y-%m-%d") == "2026-07-01"
    assert shanghai_time(None) == "—"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/admin", "/admin"),
        ("/admin?tab=users#x", "/admin?tab=users#x"),
        ("", None),
        (None, None),
        ("admin", None),
        ("//evil.example", None),
        ("/\\evil.example", None),
        ("https://evil.example", None),
        ("/a\nb", None),
        ("/" + "a" * 3000, None),
    ],
)
def test_only_local_paths_are_followed_after_sign_in(value: str | None, expected: str | None) -> None:
    assert safe_next(value) == expected


def _extracted_messages() -> set[str]:
    method_map = [("frontend/templates/**.html", "jinja2"), ("command_center/pages.py", "python")]
    options = {"frontend/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        PROJECT_ROOT, method_map, options_map=options, keywords={"_": None, "gettext": None, "N_": None}
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(language: str) -> tuple[Path, Path]:
    folder = TRANSLATIONS / language / "LC_MESSAGES"
    return folder / "messages.po", folder / "messages.mo"


def test_every_message_of_the_pages_is_in_both_catalogs() -> None:
    messages = _extracted_messages()
    assert "Sign in" in messages and "Administrator" in messages
    for language in ("zh_Hans", "en"):
        po, _ = _catalog(language)
        with po.open("rb") as f:
            ids = {m.id for m in read_po(f) if m.id}
        missing = messages - ids
        assert not missing, f"run frontend/i18n.sh update, then translate: {sorted(missing)[:5]}"


def test_the_chinese_catalog_is_fully_translated_and_compiled() -> None:
    po, mo = _catalog("zh_Hans")
    with po.open("rb") as f:
        catalog = read_po(f)
    untranslated = [m.id for m in catalog if m.id and not m.string]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert untranslated == [] and fuzzy == []
    with mo.open("rb") as f:
        compiled = {m.id: m.string for m in read_mo(f) if m.id}
    assert compiled == {m.id: m.string for m in catalog if m.id}, "run frontend/i18n.sh compile"


def test_placeholders_survive_translation() -> None:
    import re

    po, _ = _catalog("zh_Hans")
    with po.open("rb") as f:
        for message in read_po(f):
            if not message.id:
                continue
            pattern = r"\{\w+\}|%\(\w+\)s"
            assert sorted(re.findall(pattern, message.id)) == sorted(re.findall(pattern, message.string)), (
                message.id
            )
