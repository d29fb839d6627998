"""The store's foundation. Persistent state: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) when several replicas share work.

Schema changes go through Alembic migrations (bot/migrations), applied at start-up and by `ftbot db upgrade`.
Work shared between replicas (outbox rows, job watches) is claimed with leases; on PostgreSQL the claim uses
`FOR UPDATE SKIP LOCKED`, so two replicas never take the same row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Table, and_, event, func, inspect, or_, select, text, update
from sqlalchemy.engine import Connection

from bot.schema import HEAD_REVISION, VERSION_TABLE, metadata, version_table
from bot.store.aio import StoreConnection, StoreEngine, create_store_engine
from bot.store.batch import WriteBatch

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent.parent / "migrations"


UNKNOWN = object()
"""`upgrade(found=...)` not given: the revision is read first."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything in the store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's Config is a ConfigParser with `%` interpolation: a percent-encoded password (`p%40ss`) would
    # stop start-up with an error that prints the URL. `%%` is read back as `%`.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _sqlite_pragmas(busy_ms: int) -> Any:
    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets readers run during a write; busy_timeout waits for the writer instead of failing at once.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a killed process loses nothing
        # committed (only a power cut can lose the last commits). The watcher commits every poll and every
        # sent message; a sync per commit made that the bottleneck (bench/watch.py).
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return pragmas


class StoreBase:
    """The engine, migrations and the shared helpers (write transactions, leases) every family of tables
    uses. `bot.store.Store` composes the families; create it with `Store.open(url)`, then `await upgrade()`."""

    def __init__(
        self, engine: StoreEngine, timeout: float | None = None, *, writer: StoreEngine | None = None
    ) -> None:
        self.engine = engine
        self.write_engine = writer or engine  # SQLite: a pool of one connection, used under `_write_lock`
        self.dialect = engine.dialect.name
        self.timeout = timeout
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        # The request path's small writes (seen events, card references, conversations) commit together.
        self.batch = WriteBatch(self)

    @classmethod
    def open(cls, url: str, *, timeout: float | None = None) -> Self:
        """`timeout` (seconds) bounds each statement, connection and pool checkout, so a hung database fails
        a command in seconds instead of holding it for minutes; None leaves them unbounded (migrations)."""
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            _ensure_sqlite_dir(url)
            kwargs = {"connect_args": {"timeout": timeout or 30}}
        elif timeout is not None:
            kwargs["pool_timeout"] = timeout
            if "+asyncpg" in url:
                kwargs["connect_args"] = {"command_timeout": timeout, "timeout": timeout}
        engine = create_store_engine(url, **kwargs)
        if engine.dialect.name != "sqlite":
            return cls(engine, timeout)
        # SQLite has one writer: every write goes through one connection of its own (see `_WriteTx`).
        writer = create_store_engine(url, pool_size=1, max_overflow=0, pool_timeout=timeout or 30, **kwargs)
        busy_ms = int((timeout or 5) * 1000)
        for each in (engine, writer):
            event.listen(each.sync_engine, "connect", _sqlite_pragmas(busy_ms))
        return cls(engine, timeout, writer=writer)

    async def upgrade(self, revision: str = "head", *, found: str | object | None = UNKNOWN) -> None:
        """Bring the schema to `revision`. Replicas starting together on PostgreSQL serialise on an advisory lock.

        A database already at the head is told by one query (or by `found`, what a `revision()` just read),
        and an empty one is created at the head from `bot.schema.metadata` and stamped
        (tests/store/test_schema_parity.py checks that this is the schema the migrations build), both without
        importing Alembic (and Mako): start-up pays for Alembic only when an existing database is behind."""
        current = await self.revision() if found is UNKNOWN else found
        if revision == "head" and current == HEAD_REVISION:
            return
        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(7461626)"))
            if revision == "head":
                # Looked at again under the lock: a replica that held it may have just created the schema.
                state = await conn.run_sync(_schema_state)
                if state == HEAD_REVISION:
                    return
                if state is EMPTY:
                    await conn.run_sync(_create_at_head)
                    return
            await conn.run_sync(_upgrade, self.engine.url.render_as_string(hide_password=False), revision)

    async def migrate(self, revision: str = "head") -> None:
        """Replay the Alembic migrations up to `revision`, even on an empty database (what `upgrade` did before
        it created new databases from the metadata; the parity test compares the two)."""
        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(7461626)"))
            await conn.run_sync(_upgrade, self.engine.url.render_as_string(hide_password=False), revision)

    async def revision(self) -> str | None:
        """The schema's Alembic revision (None: no schema yet)."""
        try:
            async with self.engine.connect() as conn:
                row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
        except Exception:  # no alembic_version table yet: a new database
            return None
        return str(row[0]) if row is not None else None

    async def downgrade(self, revision: str = "base") -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_downgrade, self.engine.url.render_as_string(hide_password=False), revision)

    async def close(self) -> None:
        """Commit the writes still queued (a shutdown loses none of them), then close the connections."""
        try:
            await self.batch.flush()
        finally:
            if self.write_engine is not self.engine:
                await self.write_engine.dispose()
            await self.engine.dispose()

    async def ping(self, within: float = 2.0) -> bool:
        """True when the database answers a trivial query in time (used by /healthz)."""
        try:
            async with asyncio.timeout(within), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception as exc:
            log.warning("store ping failed: %s", type(exc).__name__)
            return False

    # -- helpers -------------------------------------------------------------------------------------------

    def insert(self, table: Table) -> Any:
        # Each dialect's module is imported on first use: the PostgreSQL one costs ~0.1 s of a SQLite start.
        if self.dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table)
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)

    def writes_backed_up(self) -> bool:
        """The request path's write queue is half full: time for the adapters to answer "busy"."""
        return self.batch.backlog >= self.batch.limit // 2

    async def write(self) -> _WriteTx:
        return _WriteTx(self)

    # -- leases ---------------------------------------------------------------------------------------------

    async def claim(
        self, table: Table, pk: Any, eligible: Any, owner: str, limit: int, lease: timedelta
    ) -> Sequence[Any]:
        now = utcnow()
        # Free = never leased or the lease ran out. Not "leased by me": two overlapping sweeps of one replica
        # must not both take the same row either.
        free = or_(table.c.lease_until.is_(None), table.c.lease_until < now)
        pick = select(pk).where(and_(eligible, free)).order_by(pk).limit(limit)
        if self.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        async with await self.write() as conn:
            ids = [r[0] for r in (await conn.execute(pick)).all()]
            if not ids:
                return []
            await conn.execute(
                update(table).where(pk.in_(ids)).values(lease_owner=owner, lease_until=now + lease)
            )
            return (await conn.execute(select(table).where(pk.in_(ids)).order_by(pk))).all()

    async def count(self, table: Table) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


class _WriteTx:
    """A write transaction. SQLite allows one writer: writes in this process queue on a lock instead of
    failing with `database is locked`, and take their connection from a pool of one kept for writes. Taking it
    from the readers' pool made each write (the request path's bookkeeping among them) wait, holding the
    lock, behind every read of a burst (bench/ack.py: card references 1.5 s late, some given up, under a
    flood). PostgreSQL needs neither."""

    def __init__(self, store: StoreBase) -> None:
        self._store = store
        self._conn_cm: Any = None

    async def __aenter__(self) -> StoreConnection:
        if self._store._write_lock is not None:
            # Bounded: a write stuck on the database must not queue every other one forever. A few statement
            # timeouts long, so a burst of quick writes queued here is not mistaken for an outage.
            timeout = self._store.timeout
            async with asyncio.timeout(None if timeout is None else 3 * timeout):
                await self._store._write_lock.acquire()
        try:
            self._conn_cm = self._store.write_engine.begin()
            conn: StoreConnection = await self._conn_cm.__aenter__()
            return conn
        except BaseException:
            if self._store._write_lock is not None:
                self._store._write_lock.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._conn_cm.__aexit__(*exc)
        finally:
            if self._store._write_lock is not None:
                self._store._write_lock.release()


EMPTY = object()
"""`_schema_state` of a database holding none of the bot's tables and no Alembic version."""


def _schema_state(connection: Connection) -> str | object | None:
    """EMPTY, or the revision in `alembic_version` (None: our tables without a version, left to Alembic)."""
    names = set(inspect(connection).get_table_names())
    if VERSION_TABLE not in names:
        return EMPTY if not names & set(metadata.tables) else None
    row = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    return str(row[0]) if row is not None else None


def _create_at_head(connection: Connection) -> None:
    """A new database: every table and index of `bot.schema` at once, stamped at the head as Alembic would
    (its version table, then one row), instead of replaying every migration. All or nothing: a failure half
    way leaves the database empty, to be created again by the next start."""
    if connection.dialect.name == "sqlite":
        # Python's sqlite3 runs DDL outside any transaction (it opens one only before INSERT/UPDATE/DELETE):
        # without this, tables created before a failure would stay, with no version to tell the next start.
        connection.exec_driver_sql("BEGIN")
    metadata.create_all(connection, checkfirst=False)  # `_schema_state` found none of them, under the lock
    version_table.create(connection)
    connection.execute(version_table.insert().values(version_num=HEAD_REVISION))


def _upgrade(connection: Connection, url: str, revision: str) -> None:
    from alembic import command

    cfg = _alembic_config(url)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _downgrade(connection: Connection, url: str, revision: str) -> None:
    from alembic import command

    cfg = _alembic_config(url)
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
