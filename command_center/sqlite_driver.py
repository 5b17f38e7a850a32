"""SQLAlchemy's aiosqlite dialect with one trip to the driver's thread per statement.

aiosqlite runs every sqlite3 call on a thread of its own and hands the result back to the event loop:
a few microseconds of SQLite work cost a thread wake-up and an event-loop wake-up each time (tens of
microseconds on a virtual machine). SQLAlchemy's adapter makes four such trips per statement (open a
cursor, execute, fetch the rows, close the cursor). Here a statement makes one: its cursor is opened,
executed, read to the end and closed by one function on aiosqlite's thread, and the rows, description,
row count and last row id come back together. Everything else (connections, transactions, server-side
cursors for streamed results, error translation) is SQLAlchemy's aiosqlite dialect, unchanged.

It relies on these internals of aiosqlite (0.22), checked by tests/command_center/test_sqlite_driver.py:
`Connection._execute(fn, *args)` runs `fn(*args)` on the connection's thread and returns its result,
and `Connection._conn` is the sqlite3 connection, to be used on that thread only (except its
`in_transaction` flag, which only reads SQLite's autocommit state: a rollback with no transaction open
is skipped).
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

DRIVER = "aiosqlite_one_trip"
Outcome = tuple[Any, int, int | None, list[Any]]  # description, rowcount, lastrowid, rows


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> Outcome:
    """On aiosqlite's thread: the whole life of one cursor."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement and results travel in one trip; the rows are buffered, as SQLAlchemy's
    own aiosqlite cursor buffers them."""

    __slots__ = ("_outcome",)
    _awaitable_cursor_close = False  # nothing stays open on the driver's side

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._outcome: Outcome = (None, -1, None, [])

    @property
    def description(self) -> Any:
        return self._outcome[0]

    @property
    def rowcount(self) -> int:
        return self._outcome[1]

    @property
    def lastrowid(self) -> int:
        return self._outcome[2]  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        self._trip(operation, seq_of_parameters, many=True)

    def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        aio = self._connection
        try:
            self._outcome = await_(aio._execute(_run, aio._conn, operation, parameters, many))  # type: ignore[attr-defined]
        except Exception as error:  # noqa: BLE001 - re-raised by the adapter, as SQLAlchemy's cursor does
            self._adapt_connection._handle_exception(error)
        self._rows = collections.deque(self._outcome[3])


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor

    def rollback(self) -> None:
        # The pool rolls back every connection it takes back; after a commit nothing is open, and
        # SQLite says so without a trip (`in_transaction` reads the connection's autocommit flag).
        connection = self._connection._connection  # the sqlite3 connection, None once closed
        if connection is not None and not connection.in_transaction:
            return
        super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = super().connect(*arg, **kw)
        return OneTripConnection(self, connection._connection)


class OneTripDialect(SQLiteDialect_aiosqlite):
    """`sqlite+aiosqlite_one_trip://`: the aiosqlite dialect with OneTripCursor."""

    driver = DRIVER
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> OneTripDBAPI:  # type: ignore[override]
        return OneTripDBAPI(__import__("aiosqlite"), __import__("sqlite3"))


registry.register(f"sqlite.{DRIVER}", __name__, "OneTripDialect")
