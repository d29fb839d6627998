"""The store's asyncio engine: SQLAlchemy Core's `Engine` and `Connection` driven from asyncio, without
`sqlalchemy.ext.asyncio`.

Why not `sqlalchemy.ext.asyncio`: its package `__init__` imports its ORM session (`AsyncSession`,
`async_scoped_session`), and with it all of `sqlalchemy.orm` (~40 modules, 60-80 ms of every start, issue 17),
although the store uses Core only. Importing `sqlalchemy.ext.asyncio.engine` directly runs that `__init__`
first, so no import path avoids it. `tests/core/test_startup_imports.py` checks that start-up loads neither.

What is here is the part of `AsyncEngine`/`AsyncConnection`/`AsyncTransaction` the store (and its tests) use,
done the way SQLAlchemy does it (`sqlalchemy/ext/asyncio/engine.py`, 2.x): every call into the sync engine
runs inside `sqlalchemy.util.greenlet_spawn`, which lets the async driver's awaitables (aiosqlite, asyncpg)
be awaited from SQLAlchemy's sync code (the dialects themselves call its counterpart `await_only`);
`execute` returns the buffered result, as `AsyncConnection.execute` does (the async dialects fetch the rows
before returning, so reading the result never waits); leaving a connection's `async with` closes it even if
the task is cancelled meanwhile (the connection goes back to its pool before the caller moves on).
The engine is made by `create_engine` with the async dialect the URL names; a sync driver is refused,
as `create_async_engine` refuses it. Not here: streaming results, server-side cursors, nested transactions,
events on the async objects (the store listens on `sync_engine`, as SQLAlchemy documents for its own).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Connection, CursorResult, Dialect, Engine, Transaction
from sqlalchemy.exc import ArgumentError, InvalidRequestError
from sqlalchemy.util import greenlet_spawn

P = ParamSpec("P")
T = TypeVar("T")
Rows = CursorResult[*tuple[Any, ...]]
"""A result of rows of any width (what `AsyncConnection.execute` is typed to return)."""


def create_store_engine(url: str | URL, **kwargs: Any) -> StoreEngine:
    """`create_async_engine(url, **kwargs)` for Core: an async dialect (`sqlite+aiosqlite`, `postgresql+asyncpg`)."""
    engine = create_engine(url, **kwargs)
    if not engine.dialect.is_async:
        engine.dispose()
        raise ArgumentError(
            f"the database driver {engine.dialect.driver!r} is not an asyncio driver "
            "(use sqlite+aiosqlite:// or postgresql+asyncpg://)"
        )
    return StoreEngine(engine)


async def _to_completion(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` (a close) to its end even if the caller is cancelled meanwhile; the cancellation is raised
    once it is done, so the caller never returns while its connection is still on the way back to the pool."""
    task = asyncio.ensure_future(coro)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError as err:
            if task.done():
                raise
            cancelled = err
        else:
            break
    if cancelled is not None:
        raise cancelled
    return result


class StoreEngine:
    """The async face of one sync `Engine` (its pool, dialect, URL)."""

    def __init__(self, sync_engine: Engine) -> None:
        self.sync_engine = sync_engine

    @property
    def dialect(self) -> Dialect:
        return self.sync_engine.dialect

    @property
    def url(self) -> URL:
        return self.sync_engine.url

    def connect(self) -> StoreConnection:
        """A connection from the pool: `async with engine.connect() as conn` (or `await engine.connect()`)."""
        return StoreConnection(self)

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[StoreConnection]:
        """A connection in a transaction, committed when the block ends normally, rolled back otherwise."""
        async with self.connect() as conn, conn.begin():
            yield conn

    async def dispose(self, close: bool = True) -> None:
        await greenlet_spawn(self.sync_engine.dispose, close=close)


class StoreConnection:
    """The async face of one sync `Connection`."""

    def __init__(self, engine: StoreEngine) -> None:
        self.engine = engine
        self.sync_engine = engine.sync_engine
        self._sync: Connection | None = None

    @property
    def sync_connection(self) -> Connection:
        if self._sync is None:
            raise InvalidRequestError("the connection is not started: use `async with` or await it")
        return self._sync

    @property
    def dialect(self) -> Dialect:
        return self.sync_engine.dialect

    async def start(self) -> StoreConnection:
        if self._sync is not None:
            raise InvalidRequestError("the connection is already started")
        self._sync = await greenlet_spawn(self.sync_engine.connect)
        return self

    def __await__(self) -> Generator[Any, None, StoreConnection]:
        return self.start().__await__()

    async def __aenter__(self) -> StoreConnection:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await _to_completion(self.close())

    def begin(self) -> StoreTransaction:
        return StoreTransaction(self)

    def in_transaction(self) -> bool:
        return self.sync_connection.in_transaction()

    async def execute(self, statement: Any, parameters: Any = None, *, execution_options: Any = None) -> Rows:
        """Run a statement; the result is buffered (reading it never waits)."""
        result: Rows = await greenlet_spawn(
            self.sync_connection.execute,
            statement,
            parameters,
            execution_options=execution_options,
            _require_await=True,
        )
        return result

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Rows:
        result: Rows = await greenlet_spawn(
            self.sync_connection.exec_driver_sql, statement, parameters, _require_await=True
        )
        return result

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def run_sync(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(sync_connection, *args, **kwargs)`: sync Core code (DDL, inspection, Alembic) on this connection."""
        result: T = await greenlet_spawn(fn, self.sync_connection, *args, _require_await=False, **kwargs)
        return result

    async def commit(self) -> None:
        await greenlet_spawn(self.sync_connection.commit)

    async def rollback(self) -> None:
        await greenlet_spawn(self.sync_connection.rollback)

    async def close(self) -> None:
        if self._sync is not None:
            await greenlet_spawn(self._sync.close)


class StoreTransaction:
    """`async with conn.begin():` commits at the end of the block, rolls back on an exception."""

    def __init__(self, connection: StoreConnection) -> None:
        self.connection = connection
        self._sync: Transaction | None = None

    async def __aenter__(self) -> StoreTransaction:
        self._sync = await greenlet_spawn(self.connection.sync_connection.begin)
        # As `AsyncTransaction` does: the sync transaction is entered as a context manager, so the connection
        # refuses statements once it was ended inside the block (SQLAlchemy's "closed transaction" check).
        self._sync.__enter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._sync is not None
        await greenlet_spawn(self._sync.__exit__, exc_type, exc, tb)

    async def commit(self) -> None:
        assert self._sync is not None
        await greenlet_spawn(self._sync.commit)

    async def rollback(self) -> None:
        assert self._sync is not None
        await greenlet_spawn(self._sync.rollback)
