"""Fixtures of the fault scenarios: one prepared backend per run, one `Stack` per scenario, the table.

The normal suite runs the short scenarios with small volumes; `make faults` (CC_FAULTS=full) runs
every scenario with larger ones and prints the table of figures at the end.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import FULL, RESULTS, Backend, Stack, results_table


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults_full: a fault scenario run only by `make faults` (CC_FAULTS=full)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if FULL:
        return
    full_only = pytest.mark.skip(reason="full fault scenario: run with `make faults`")
    # The scenarios bring their own database (a private PostgreSQL cluster, else SQLite), so the
    # suite's PostgreSQL pass (`make test`) would only repeat the SQLite pass's run.
    repeated = pytest.mark.skip(reason="fault scenarios run once, in the suite's SQLite pass")
    for item in items:
        if "tests/faults/" not in item.nodeid:
            continue
        if os.environ.get("CC_TEST_DATABASE_URL"):
            item.add_marker(repeated)
        elif "faults_full" in item.keywords:
            item.add_marker(full_only)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if RESULTS:
        terminalreporter.write_sep("=", "fault scenarios" + (" (full)" if FULL else " (short)"))
        terminalreporter.write_line(results_table(RESULTS))


@pytest.fixture(scope="session")
async def fault_backend(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Backend]:
    backend = Backend(tmp_path_factory.mktemp("faults"))
    try:
        await backend.start()
        yield backend
    finally:
        backend.stop()


@pytest.fixture
async def make_stack(fault_backend: Backend, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    stacks: list[Stack] = []

    async def make(name: str, **options: Any) -> Stack:
        stack = Stack(fault_backend, tmp_path / name, name)
        stacks.append(stack)
        await stack.start(**options)
        return stack

    yield make
    for stack in stacks:
        await stack.stop()
