"""The unit of work: one transaction per block, rolled back on error; readers never wait on SQLite."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text

from command_center.courts.models import Court
from command_center.db import Database


async def test_unit_of_work_rolls_back_everything_on_error(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.unit_of_work() as session:
            await session.execute(text("UPDATE court SET name = 'changed' WHERE code = '330106'"))
            raise RuntimeError("boom")
    async with database.unit_of_work(read_only=True) as session:
        name = await session.scalar(select(Court.name).where(Court.code == "330106"))
    assert name == "杭州市西湖区人民法院"


async def test_reader_does_not_wait_for_an_open_writer(database: Database, is_postgres: bool) -> None:
    writer_holds = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with database.unit_of_work() as session:
            await session.execute(text("UPDATE court SET updated_at = updated_at WHERE code = '330106'"))
            writer_holds.set()
            await release.wait()

    task = asyncio.create_task(writer())
    await writer_holds.wait()
    try:
        async with asyncio.timeout(5):  # a reader that took the write lock would wait 15 s and time out
            async with database.unit_of_work(read_only=True) as session:
                count = await session.scalar(select(func.count()).select_from(Court))
    finally:
        release.set()
        await task
    assert count > 3000
