"""The store's own asyncio engine (bot/store/aio.py): what it took over from `sqlalchemy.ext.asyncio`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, InvalidRequestError

from bot.store.aio import StoreEngine, create_store_engine


def _engine(tmp_path: Path) -> StoreEngine:
    return create_store_engine(f"sqlite+aiosqlite:///{tmp_path / 'aio.db'}")


async def _count(engine: StoreEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM t"))).scalar_one())


def test_a_sync_driver_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match="not an asyncio driver"):
        create_store_engine(f"sqlite:///{tmp_path / 'sync.db'}")


async def test_begin_commits_at_the_end_and_rolls_back_on_an_exception(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": 1}, {"x": 2}])
        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (3)"))
                raise RuntimeError("boom")
        assert await _count(engine) == 2
        async with engine.connect() as conn, conn.begin() as tx:
            await conn.execute(text("INSERT INTO t VALUES (4)"))
            await tx.rollback()
            with pytest.raises(InvalidRequestError, match="closed transaction"):
                await conn.execute(text("INSERT INTO t VALUES (4)"))
        assert await _count(engine) == 2
        async with engine.connect() as conn:
            await conn.execute(text("INSERT INTO t VALUES (5)"))
            await conn.commit()
        assert await _count(engine) == 3
    finally:
        await engine.dispose()


async def test_run_sync_and_the_buffered_result(tmp_path: Path) -> None:
    engine = _engine(tmp_path)

    def create(connection: Connection, rows: int) -> list[int]:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        for x in range(rows):
            connection.execute(text("INSERT INTO t VALUES (:x)"), {"x": x})
        return [r[0] for r in connection.execute(text("SELECT x FROM t ORDER BY x"))]

    try:
        async with engine.begin() as conn:
            assert await conn.run_sync(create, 3) == [0, 1, 2]
            result = await conn.execute(text("SELECT x FROM t ORDER BY x"))
        # Buffered: readable after the connection went back to the pool.
        assert [r[0] for r in result.all()] == [0, 1, 2]
        assert engine.url.drivername == "sqlite+aiosqlite" and engine.dialect.name == "sqlite"
    finally:
        await engine.dispose()


async def test_a_cancelled_caller_waits_until_its_connection_is_back_in_the_pool(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    entered = asyncio.Event()

    async def hold() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            entered.set()
            await asyncio.sleep(30)

    try:
        task = asyncio.create_task(hold())
        await entered.wait()
        assert engine.sync_engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_a_connection_not_started_says_so(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    try:
        conn = engine.connect()
        with pytest.raises(InvalidRequestError, match="not started"):
            await conn.execute(text("SELECT 1"))
        started = await conn
        assert (await started.execute(text("SELECT 1"))).scalar_one() == 1
        await started.close()
    finally:
        await engine.dispose()
