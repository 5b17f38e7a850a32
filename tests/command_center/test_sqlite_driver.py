"""The SQLite driver: one trip to aiosqlite's thread per statement, and the same results and errors as
SQLAlchemy's own aiosqlite dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from command_center import sqlite_driver
from command_center.db import create_engine
from command_center.settings import Settings

_META = sa.MetaData()
_ITEM = sa.Table(
    "item",
    _META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(20), nullable=False, unique=True),
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}"))
    async with engine.begin() as conn:
        await conn.run_sync(_META.create_all)
    yield engine
    await engine.dispose()


class TripCounter:
    """Counts the functions handed to aiosqlite's thread while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.trips = 0
        original = aiosqlite.Connection._execute

        async def counted(connection: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.trips += 1
            return await original(connection, fn, *args, **kwargs)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)


def test_the_aiosqlite_internals_it_uses_are_there() -> None:
    assert callable(aiosqlite.Connection._execute)
    assert isinstance(aiosqlite.Connection._conn, property)


async def test_the_engine_uses_the_one_trip_driver(engine: AsyncEngine) -> None:
    assert engine.dialect.driver == sqlite_driver.DRIVER
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.dbapi_connection, sqlite_driver.OneTripConnection)


async def test_each_statement_is_one_trip(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))  # the connection is open before counting
        await conn.commit()
        counter = TripCounter(monkeypatch)
        await conn.execute(sa.insert(_ITEM), [{"name": "a"}, {"name": "b"}])
        rows = (await conn.execute(sa.select(_ITEM.c.name).order_by(_ITEM.c.id))).all()
        await conn.commit()
        trips = counter.trips
    assert [row.name for row in rows] == ["a", "b"]
    assert trips == 4  # BEGIN IMMEDIATE, the insert, the select, COMMIT


async def test_results_row_counts_and_ids_are_those_of_sqlite(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        inserted = await conn.execute(sa.insert(_ITEM).values(name="first"))
        assert inserted.inserted_primary_key == (1,)
        many = await conn.execute(sa.insert(_ITEM), [{"name": f"n{i}"} for i in range(5)])
        assert many.rowcount == 5
        returned = await conn.execute(sa.insert(_ITEM).returning(_ITEM.c.id, _ITEM.c.name), [{"name": "r"}])
        assert [tuple(row) for row in returned] == [(7, "r")]
        updated = await conn.execute(sa.update(_ITEM).where(_ITEM.c.id > 3).values(name=_ITEM.c.name + "!"))
        assert updated.rowcount == 4
        assert await conn.scalar(sa.select(sa.func.count()).select_from(_ITEM)) == 7
        streamed = await conn.stream(sa.select(_ITEM.c.id).order_by(_ITEM.c.id))
        assert [row.id async for row in streamed] == list(range(1, 8))


async def test_errors_are_sqlalchemys_and_roll_back(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.insert(_ITEM).values(name="taken"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(sa.insert(_ITEM).values(name="other"))
            await conn.execute(sa.insert(_ITEM).values(name="taken"))
    async with engine.connect() as conn:
        names = (await conn.execute(sa.select(_ITEM.c.name))).scalars().all()
    assert names == ["taken"]


async def test_a_connection_handed_back_is_rolled_back_only_when_a_transaction_is_open(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = TripCounter(monkeypatch)
    async with engine.begin() as conn:
        await conn.execute(sa.insert(_ITEM).values(name="kept"))
    assert counter.trips == 3  # BEGIN IMMEDIATE, the insert, COMMIT: nothing when the pool takes it back

    def leave_open(sync_conn: Any) -> None:
        # A transaction opened on the driver's connection behind SQLAlchemy's back: the pool's reset
        # must roll it back.
        driver = sync_conn.connection.dbapi_connection
        driver.cursor().execute("BEGIN IMMEDIATE")
        driver.cursor().execute("INSERT INTO item (name) VALUES ('dropped')")

    async with engine.connect() as conn:
        await conn.run_sync(leave_open)
    async with engine.connect() as conn:
        names = (await conn.execute(sa.select(_ITEM.c.name))).scalars().all()
    assert names == ["kept"]
