"""Database down, hung or refusing writes: every command still gets an answer within seconds (bookkeeping is
best-effort, statements time out), a command that needs the database says so, and /healthz turns 503 when
writes fail, not only when the database is unreachable. PostgreSQL sits behind a TCP proxy the test pauses."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from bot.app import RunningBot
from bot.config import load_settings
from bot.context import Context
from bot.model import Command, Conversation, User
from bot.router import Dispatcher, Router
from bot.schema import jobs
from bot.store import Store
from handlers.help import Presenter
from tests.robust.conftest import StartBot, answer, slash
from tests.slack.fake_slack_api import FakeSlackApi
from tests.tcp_proxy import TcpProxy
from tests.teams.conftest import card_text, payload
from tests.teams.fake_connector import FakeConnector, running_connector

DB_TIMEOUT = 1.0
ANSWER_WITHIN = 8.0  # a few seconds: the statement and connect timeouts, twice, plus the reply


async def _health(bot: RunningBot) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{bot.url}/healthz") as resp:
        return resp.status, await resp.json()


async def _help_is_answered(bot: RunningBot, slack_api: FakeSlackApi) -> float:
    before = len(slack_api.messages())
    started = time.monotonic()
    await slash(bot, "help")
    async with asyncio.timeout(30):
        while len(slack_api.messages()) <= before:  # noqa: ASYNC110 - any kind of message counts
            await asyncio.sleep(0.01)
    took = time.monotonic() - started  # when the user sees it (bookkeeping after the post may go on)
    said = await answer(slack_api, bot, before + 1)
    assert "start" in said and "validate" in said  # the verbs of the help card
    return took


@pytest.fixture
async def proxy(postgres_server: str) -> AsyncIterator[TcpProxy]:
    url = make_url(postgres_server)
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as tcp:
        yield tcp


def _through(postgres_server: str, proxy: TcpProxy) -> str:
    return (
        make_url(postgres_server).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    )


@pytest.mark.postgres
@pytest.mark.parametrize("fault", ["blackhole", "refuse"], ids=["hung", "down"])
async def test_postgres_hung_or_down_commands_are_answered_and_healthz_fails(
    slack_bot: StartBot, slack_api: FakeSlackApi, postgres_server: str, proxy: TcpProxy, fault: str
) -> None:
    async with slack_bot(database_url=_through(postgres_server, proxy), db_timeout=DB_TIMEOUT) as bot:
        assert (await _health(bot))[0] == 200
        getattr(proxy, fault)()
        assert await _help_is_answered(bot, slack_api) < ANSWER_WITHIN
        started = time.monotonic()
        status, body = await _health(bot)
        assert status == 503 and body["store"] is False
        assert time.monotonic() - started < ANSWER_WITHIN
        proxy.heal()
        assert (await _health(bot))[0] == 200  # the pool recovers by itself
        await _help_is_answered(bot, slack_api)


@pytest.mark.postgres
async def test_postgres_a_hung_write_turns_healthz_503(
    slack_bot: StartBot, postgres_server: str, proxy: TcpProxy
) -> None:
    """Reads answer, writes hang (a lock, a full disk on the primary): /healthz is 503 all the same."""
    import asyncpg

    async with slack_bot(database_url=_through(postgres_server, proxy), db_timeout=DB_TIMEOUT) as bot:
        holder = await asyncpg.connect(postgres_server.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await holder.execute("BEGIN; LOCK TABLE seen_events IN ACCESS EXCLUSIVE MODE")
            status, body = await _health(bot)
            assert status == 503 and body == {"status": "unavailable", "store": True, "store_write": False}
            await holder.execute("ROLLBACK")
        finally:
            await holder.close()
        assert (await _health(bot))[0] == 200


@pytest.mark.postgres
async def test_postgres_a_command_that_needs_the_database_says_it_is_not_answering(
    postgres_server: str, proxy: TcpProxy
) -> None:
    store = Store.open(_through(postgres_server, proxy), timeout=DB_TIMEOUT)
    await store.upgrade()
    router = Router("db")

    @router.command("count", summary="Counts jobs", example="count")
    async def count(ctx: Context, cmd: Command) -> str:
        return str(await ctx.store.count(jobs))

    ctx = Context(settings=load_settings(), store=store, azure=None)
    dispatcher = Dispatcher(router, ctx, Presenter())
    cmd = Command("count", (), {}, User("U1", "ada"), Conversation("slack", "C1"), "slack")
    try:
        proxy.blackhole()
        started = time.monotonic()
        (reply,) = await dispatcher.on_command(cmd)
        assert time.monotonic() - started < ANSWER_WITHIN
        assert reply.card.title == "The bot's database is not answering"
        assert "could not reach my database" in reply.card.text and "Try again in a minute" in reply.card.text
    finally:
        proxy.heal()
        await store.close()


async def test_sqlite_locked_for_writes_still_answers_and_healthz_fails(
    slack_bot: StartBot, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    """Another writer holds SQLite's lock (as a stuck process or a full disk would): bookkeeping fails, the
    answer comes anyway, and /healthz says the store cannot take writes while reads still work."""
    async with slack_bot(db_timeout=0.5) as bot:
        path = make_url(bot.settings.database_url).database
        assert path is not None
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            assert await _help_is_answered(bot, slack_api) < ANSWER_WITHIN
            status, body = await _health(bot)
            assert status == 503 and body == {"status": "unavailable", "store": True, "store_write": False}
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        assert (await _health(bot))[0] == 200


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with running_connector() as fake:
        yield fake


async def _teams_help(bot: RunningBot, connector: FakeConnector) -> float:
    before = len(connector.calls)
    started = time.monotonic()
    async with aiohttp.ClientSession() as http:
        activity = payload("message_personal", connector.url, text="help", id=f"act-help-{before}")
        resp = await http.post(f"{bot.url}/api/messages", json=activity)
        assert resp.status == 200
    replies = await connector.wait_for(before + 1)
    assert any("validate" in card_text(card) for reply in replies[before:] for card in reply.cards)
    return time.monotonic() - started


async def test_teams_answers_with_sqlite_locked_for_writes(connector: FakeConnector, tmp_path: Path) -> None:
    from bot.app import start_bot

    path = tmp_path / "ftbot.db"
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{path}", db_timeout=0.5)
    bot = await start_bot(settings, host="127.0.0.1", port=0)
    holder = sqlite3.connect(str(path), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        assert await _teams_help(bot, connector) < ANSWER_WITHIN
        assert (await _health(bot))[0] == 503
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await bot.close()


@pytest.mark.postgres
async def test_teams_answers_with_postgres_hung(
    connector: FakeConnector, postgres_server: str, proxy: TcpProxy
) -> None:
    from bot.app import start_bot

    settings = load_settings(database_url=_through(postgres_server, proxy), db_timeout=DB_TIMEOUT)
    bot = await start_bot(settings, host="127.0.0.1", port=0)
    try:
        proxy.blackhole()
        assert await _teams_help(bot, connector) < ANSWER_WITHIN
        assert (await _health(bot))[0] == 503
    finally:
        proxy.heal()
        await bot.close()


@pytest.mark.postgres
async def test_postgres_hung_with_the_default_timeouts_still_answers_in_seconds(
    slack_bot: StartBot, slack_api: FakeSlackApi, postgres_server: str, proxy: TcpProxy
) -> None:
    async with slack_bot(database_url=_through(postgres_server, proxy)) as bot:
        assert bot.settings.db_timeout == 5.0
        proxy.blackhole()
        took = await _help_is_answered(bot, slack_api)
        print(f"help answered {took:.1f} s after PostgreSQL hung (default timeouts)")
        assert took < ANSWER_WITHIN
        proxy.heal()
