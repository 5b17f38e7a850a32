"""Database engine, sessions and the unit of work that owns each transaction."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, overload

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel

from command_center import sqlite_driver
from command_center.settings import Settings

READ_ONLY_OPTION = "cc_read_only"

# Importing SQLModel here keeps one metadata for the whole distribution.
metadata = SQLModel.metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """The same instant as an aware UTC datetime; a naive value is taken to be UTC already."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An instant: `TIMESTAMP WITH TIME ZONE`, written from aware datetimes, read as aware UTC.

    SQLite keeps no zone, so the value is stored as its UTC wall time and read back naive; this type
    stores every instant in UTC and returns it with `tzinfo=UTC` on both databases. A naive datetime
    is refused when bound: its zone is a guess, and a Shanghai wall time stored as UTC is 8 hours off.
    """

    impl = sa.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"a timestamp column needs a datetime, not {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} for a timestamp column: give it a zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        # `ends_at - timedelta(...)` must bind the interval as an interval, not as an instant.
        if isinstance(value, datetime):
            return self
        return self.impl_instance.coerce_compared_value(op, value)


def enum_type(enum: type, name: str, *, length: int = 32) -> sa.Enum:
    """An enum column stored as text (no database enum type, so adding a value needs no migration)."""
    return sa.Enum(enum, name=name, native_enum=False, length=length, validate_strings=True)


def court_fk(*, nullable: bool = False) -> sa.Column:
    """A column holding a court code, referencing the court directory."""
    return sa.Column(sa.String(6), sa.ForeignKey("court.code"), nullable=nullable)


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, foreign keys, and transactions that begin when SQLAlchemy says so.

    pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; the recipe from the
    SQLAlchemy docs hands transaction control back to SQLAlchemy.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the write lock up front (IMMEDIATE), so two writers queue on busy_timeout
        # instead of failing when a read lock cannot be upgraded; readers never take it (WAL).
        read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
        conn.connection.dbapi_connection.cursor().execute("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        path = settings.database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The aiosqlite dialect with one trip to the driver's thread per statement (sqlite_driver).
        url = sa.make_url(settings.database_url).set(drivername=f"sqlite+{sqlite_driver.DRIVER}")
        engine = create_async_engine(url, connect_args={"timeout": 15})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
    )


class Database:
    """Owns the engine and hands out units of work."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, class_=AsyncSession)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        # Every table module, so foreign keys between packages resolve in any process (CLI, worker).
        import command_center.models  # noqa: F401

        return cls(create_engine(settings))

    @asynccontextmanager
    async def unit_of_work(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """One transaction: commits when the block ends normally, rolls back on any exception.

        `read_only=True` is for work that only reads: on SQLite it does not take the write lock.
        """
        async with self.sessionmaker() as session:
            if read_only:
                await session.connection(execution_options={READ_ONLY_OPTION: True})
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        await self.engine.dispose()


async def insert_returning_ids(
    session: AsyncSession, table: sa.Table, rows: list[dict[str, Any]]
) -> list[int]:
    """Inserts `rows` into `table` (integer primary key `id`) with one statement; their ids in row order.

    PostgreSQL: SQLAlchemy's batched insert with `sort_by_parameter_order`. On SQLite SQLAlchemy
    cannot correlate a batched insert's ids and would insert row by row to keep the order; the batch
    (one multi-row INSERT) is sent unordered instead: SQLite inserts the VALUES in order, under the
    write lock the transaction holds (BEGIN IMMEDIATE), and gives each new row a rowid above every
    earlier one, so the ids in ascending order are the rows' ids in order.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name == "sqlite":
        result = await session.execute(_insert_returning_id(table, ordered=False), rows)
        return sorted(result.scalars().all())
    return list((await session.execute(_insert_returning_id(table, ordered=True), rows)).scalars().all())


@functools.cache
def _insert_returning_id(table: sa.Table, *, ordered: bool) -> Any:
    # Built once per table, so SQLAlchemy's statement cache finds it without rebuilding its key.
    return sa.insert(table).returning(table.c.id, sort_by_parameter_order=ordered)
