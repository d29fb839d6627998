"""Fixtures shared by every test area: a real SQLite file and, when configured, a real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot.config import Settings
from bot.store import Store

if TYPE_CHECKING:
    from bot.app import RunningBot

POSTGRES_ENV = "FTBOT_TEST_POSTGRES_URL"
REQUIRE_ENV = "FTBOT_REQUIRE_POSTGRES"


def _admin_dsn(url: str) -> str:
    """asyncpg DSN for the SQLAlchemy URL (drop the `+asyncpg` driver tag)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL database of its own for this test session, dropped at the end.

    Off unless FTBOT_TEST_POSTGRES_URL is set (CI sets it); with FTBOT_REQUIRE_POSTGRES=1 an unreachable
    server fails the tests instead of skipping them.
    """
    import asyncpg

    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests are off: set {POSTGRES_ENV} (CI does) to run them")
    name = f"ftbot_test_{uuid.uuid4().hex[:10]}"

    async def run_admin(sql: str) -> None:
        conn = await asyncpg.connect(_admin_dsn(url), timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def admin(sql: str) -> None:
        # Its own thread and loop: this fixture may first be requested from inside a running event loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run_admin(sql)).result()

    try:
        admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        message = f"PostgreSQL at {POSTGRES_ENV} is unreachable: {type(exc).__name__}: {exc}"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    base, _, _ = url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Store]:
    """A migrated, empty store on a real SQLite file and on a real PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'ftbot.db'}"
    else:
        url = request.getfixturevalue("postgres_server")
    s = Store.open(url)
    if s.dialect == "postgresql":
        from sqlalchemy import text

        async with s.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await s.upgrade()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/ftbot.db"


@pytest.fixture
async def emulator() -> AsyncIterator[Any]:
    """The Azure emulator in-process on an ephemeral port: files process in half a second, a job waits
    ~15 s before training, and tests jump ahead with `advance(seconds)`."""
    from emulator.server import start

    emu = await start(speed=10)
    try:
        yield emu
    finally:
        await emu.close()


def bot_settings(emu: Any, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings pointing at a running emulator, as a real deployment would point at Azure."""
    values: dict[str, Any] = {
        "azure_openai_endpoint": emu.url,
        "azure_openai_api_key": "test-key-not-secret",
        "arm_endpoint": emu.arm_url,
        "subscription_id": emu.subscription_id,
        "resource_group": emu.resource_group,
        "account_name": emu.account_name,
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        "host": "127.0.0.1",
        "port": 0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def running_bot(emulator: Any, tmp_path: Path) -> AsyncIterator[RunningBot]:
    """The whole bot on an ephemeral port, talking to the emulator over HTTP, on a real SQLite file."""
    from bot.app import start_bot

    bot = await start_bot(bot_settings(emulator, tmp_path))
    try:
        yield bot
    finally:
        await bot.close()
