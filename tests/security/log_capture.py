"""A pytest plugin: every log record of the test run is written to one file, as production writes it,
and the file is scanned for unmasked personal data when the run ends.

The file is `var/test-logs/run-<UTC time>-<pid>.jsonl` (or under `CC_TEST_LOG_DIR`), one JSON line per
record through the app's own `JsonFormatter`. The root logger is opened to INFO for the run, as the app
runs in production. An unmasked resident ID number or bank account number found there fails the run
(exit status 1) and is listed, masked, at the end of the report. Files older than a day are removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from command_center.logging import JsonFormatter
from tests.security.log_scan import Leak, scan_file

KEEP_SECONDS = 24 * 3600


class RunLog:
    """The run's log file and the handler writing it."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self.path = directory / f"run-{stamp}-{os.getpid()}.jsonl"
        self.handler = logging.FileHandler(self.path, encoding="utf-8", delay=False)
        self.handler.setFormatter(JsonFormatter())
        self.handler.setLevel(logging.INFO)
        self._root_level = logging.getLogger().level
        # Other runs may be writing their files right now: only stale ones go.
        stale = time.time() - KEEP_SECONDS
        for old in directory.glob("run-*.jsonl"):
            with contextlib.suppress(OSError):
                if old.stat().st_mtime < stale:
                    old.unlink()

    def open(self) -> None:
        root = logging.getLogger()
        root.addHandler(self.handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)

    def close(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self._root_level)
        self.handler.close()

    def leaks(self) -> list[Leak]:
        self.handler.flush()
        return scan_file(self.path)


_KEY = pytest.StashKey[RunLog]()


def current(config: pytest.Config) -> RunLog:
    return config.stash[_KEY]


def pytest_configure(config: pytest.Config) -> None:
    directory = Path(os.environ.get("CC_TEST_LOG_DIR") or config.rootpath / "var" / "test-logs")
    run_log = RunLog(directory)
    run_log.open()
    config.stash[_KEY] = run_log


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    run_log = session.config.stash.get(_KEY, None)
    if run_log is None:
        return
    leaks = run_log.leaks()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter is not None:
            reporter.write_sep(
                "=", f"log hygiene: {len(leaks)} unmasked personal data in {run_log.path}", red=True
            )
            for leak in leaks[:50]:
                reporter.write_line(str(leak))
    elif reporter is not None and session.testscollected:
        reporter.write_line(f"log hygiene: no unmasked ID or account number in {run_log.path}")


def pytest_unconfigure(config: pytest.Config) -> None:
    run_log = config.stash.get(_KEY, None)
    if run_log is not None:
        run_log.close()
