"""A new database is created from `bot.schema.metadata` and stamped at the head, not migrated (issue 17): the
schema it gets must be the one the Alembic migrations build, on SQLite and on PostgreSQL, down to column types,
nullability, server defaults, keys, indexes and constraint names (the migrations stay the source of truth
for every database that is behind, and for downgrades)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from bot.schema import HEAD_REVISION, metadata
from bot.store import Store


def _snapshot(conn: Connection) -> dict[str, Any]:
    """Everything reflection tells about every table, in a form two databases can be compared by."""
    insp = inspect(conn)
    tables: dict[str, Any] = {}
    for name in sorted(insp.get_table_names()):
        columns = [
            (
                col["name"],
                str(col["type"].compile(dialect=conn.dialect)),
                col["nullable"],
                None if col.get("default") is None else str(col["default"]),
                col.get("autoincrement"),
            )
            for col in insp.get_columns(name)
        ]
        pk = insp.get_pk_constraint(name)
        tables[name] = {
            "columns": columns,
            "primary key": (pk.get("name"), tuple(pk["constrained_columns"])),
            "foreign keys": sorted(
                (fk.get("name") or "", tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in insp.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (ix["name"] or "", tuple(ix["column_names"]), bool(ix["unique"]))
                for ix in insp.get_indexes(name)
            ),
            "unique constraints": sorted(
                (uq.get("name") or "", tuple(uq["column_names"])) for uq in insp.get_unique_constraints(name)
            ),
            "check constraints": sorted(
                (ck.get("name") or "", str(ck["sqltext"])) for ck in insp.get_check_constraints(name)
            ),
        }
    return tables


async def _reset(store: Store) -> None:
    """An empty database: no table of ours, no version."""
    async with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        else:
            names = await conn.run_sync(lambda c: inspect(c).get_table_names())
            for name in names:
                await conn.execute(text(f'DROP TABLE "{name}"'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'ftbot.db'}"
    return str(request.getfixturevalue("postgres_server"))


async def test_a_new_database_gets_the_schema_the_migrations_build(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        await _reset(store)
        await store.migrate()  # Alembic, every migration from the first
        async with store.engine.connect() as conn:
            migrated = await conn.run_sync(_snapshot)
        await _reset(store)
        await store.upgrade()  # an empty database: created from the metadata and stamped
        async with store.engine.connect() as conn:
            created = await conn.run_sync(_snapshot)
        assert await store.revision() == HEAD_REVISION
    finally:
        await store.close()
    assert set(migrated) == set(metadata.tables) | {"alembic_version"}
    for table in migrated:
        assert created[table] == migrated[table], table


async def test_a_created_database_is_stamped_so_alembic_sees_it_at_the_head(database_url: str) -> None:
    """Alembic itself finds nothing to do on it, and can take it down again (its downgrades find every name)."""
    store = Store.open(database_url)
    try:
        await _reset(store)
        await store.upgrade()
        await store.migrate()  # a no-op at the head, through Alembic
        assert await store.revision() == HEAD_REVISION
        await store.downgrade("base")
        async with store.engine.connect() as conn:
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert left <= {"alembic_version"}
    finally:
        await store.close()


async def test_a_database_behind_the_head_is_still_migrated(database_url: str) -> None:
    """Only an empty database is created from the metadata; one at an older revision is migrated, keeping
    its rows."""
    store = Store.open(database_url)
    try:
        await _reset(store)
        await store.migrate("0004")
        async with store.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO seen_events (source, event_id, seen_at) VALUES ('slack', 'E1', CURRENT_TIMESTAMP)"
                )
            )
        await store.upgrade()
        assert await store.revision() == HEAD_REVISION
        async with store.engine.connect() as conn:
            kept = (await conn.execute(text("SELECT event_id FROM seen_events"))).scalars().all()
        assert kept == ["E1"]
    finally:
        await store.close()


@pytest.mark.postgres
async def test_replicas_starting_together_on_an_empty_postgres_create_it_once(postgres_server: str) -> None:
    """Three replicas open an empty database at once: they queue on the advisory lock, the first creates the
    schema, the others find it at the head under the lock; none fails, none imports Alembic."""
    stores = [Store.open(postgres_server) for _ in range(3)]
    try:
        await _reset(stores[0])
        had_alembic = "alembic" in sys.modules
        await asyncio.gather(*(s.upgrade() for s in stores))
        for s in stores:
            assert await s.revision() == HEAD_REVISION
        async with stores[0].engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert versions == [HEAD_REVISION]
        assert tables == set(metadata.tables) | {"alembic_version"}
        if not had_alembic:
            assert "alembic" not in sys.modules
    finally:
        for s in stores:
            await s.close()


async def test_a_creation_that_fails_half_way_leaves_the_database_empty(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All or nothing (SQLite included, whose driver runs DDL outside transactions unless told): the next
    start finds an empty database and creates it, instead of tables with no version that Alembic would trip on."""
    import bot.store.base as base

    store = Store.open(database_url)
    try:
        await _reset(store)

        def full_disk(*_args: Any, **_kwargs: Any) -> None:
            raise OSError("no space left on device")

        with monkeypatch.context() as patched:
            patched.setattr(base.version_table, "create", full_disk)
            with pytest.raises(OSError):
                await store.upgrade()
        async with store.engine.connect() as conn:
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert left == set()
        await store.upgrade()
        assert await store.revision() == HEAD_REVISION
    finally:
        await store.close()
