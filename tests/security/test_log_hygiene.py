"""Log hygiene: the run's logs hold no unmasked resident ID number or bank account number, and the scan
that says so does find one when it is there."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from command_center.logging import JsonFormatter
from tests.security import log_capture
from tests.security.log_scan import scan_file, scan_text

ID_NUMBER = "330106198506153212"  # GB 11643 check character right
CARD = "6217001234567893"  # Luhn-valid
ACCOUNT_GROUPED = "6222 0212 0204 1234 569"


def _write(path: Path, formatter: logging.Formatter, message: str, *args: object) -> None:
    logger = logging.getLogger(f"tests.security.scratch.{path.stem}")
    logger.propagate = False  # the deliberately unmasked record stays out of the run's log
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    try:
        logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_the_scan_finds_unmasked_numbers_written_by_a_handler_that_does_not_mask(tmp_path: Path) -> None:
    log = tmp_path / "scratch.log"
    _write(
        log,
        logging.Formatter("%(message)s"),
        "froze account %s of %s; card %s",
        CARD,
        ID_NUMBER,
        ACCOUNT_GROUPED,
    )
    found = {(leak.kind, leak.value) for leak in scan_file(log)}
    assert found == {("id_number", ID_NUMBER), ("account", CARD), ("account", ACCOUNT_GROUPED)}


def test_the_same_record_through_the_apps_formatter_is_clean(tmp_path: Path) -> None:
    log = tmp_path / "masked.log"
    _write(log, JsonFormatter(), "froze account %s of %s; card %s", CARD, ID_NUMBER, ACCOUNT_GROUPED)
    assert ID_NUMBER[-4:] in log.read_text(encoding="utf-8")  # the record is there, masked
    assert scan_file(log) == []


@pytest.mark.parametrize(
    "text",
    [
        "3301**********3212",  # masked ID
        "************7893",  # masked account
        "330106198506153213",  # wrong check character: not an ID number (and not Luhn-valid)
        "request 1764251089123 took 12 ms",  # a millisecond timestamp
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ],
)
def test_masked_values_and_other_numbers_are_not_leaks(text: str) -> None:
    assert list(scan_text(text)) == []


def test_the_logs_of_this_run_so_far_hold_no_unmasked_personal_data(pytestconfig: pytest.Config) -> None:
    run_log = log_capture.current(pytestconfig)
    logging.getLogger("tests.security").info("log hygiene check of %s", run_log.path.name)
    assert run_log.path.is_file()
    assert run_log.leaks() == []
    assert "log hygiene check" in run_log.path.read_text(encoding="utf-8")
