"""Shutdown is bounded: work in a turn and late replies get a grace period, then they are cancelled; requests
arriving while the adapter closes get 503."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.teams.conftest import BotFactory, TeamsBot
from tests.teams.test_actions import execute_value

CANCEL = {"ft": "ft1", "action": "job.cancel", "payload": {"job": "ftjob-abc123"}}


async def _reached(bot: TeamsBot) -> None:
    """Wait until a handler was entered (it then waits on the gate nobody opens)."""
    async with asyncio.timeout(10):  # a safety net against a hang only
        await bot.seen.reached.wait()


async def test_work_still_in_its_turn_is_cancelled_after_the_grace(
    bot_factory: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # The handler waits forever, like a stuck Azure call, inside the request (answer_within not reached).
    async with bot_factory(answer_within=60) as bot:
        posting = asyncio.create_task(bot.post(bot.payload("message_personal", text="slow")))
        await _reached(bot)
        (work,) = bot.adapter._in_turn

        with caplog.at_level(logging.WARNING, logger="adapters.teams"):
            await bot.adapter.close(grace=0.01)
        status, _ = await posting

        assert work.cancelled()
        assert status == 200
        assert bot.adapter._in_turn == set()
        assert bot.connector.calls == []
        assert any("cancelled 1 unfinished task" in r.message for r in caplog.records)


async def test_a_cancelled_invoke_is_answered_with_an_error(bot_factory: BotFactory) -> None:
    async with bot_factory(answer_within=60) as bot:
        posting = asyncio.create_task(bot.post(bot.payload("invoke_execute", value=execute_value(CANCEL))))
        await _reached(bot)
        await bot.adapter.close(grace=0.01)
        status, body = await posting

        assert status == 503
        assert "restarting" in body["value"]["message"]


async def test_a_late_reply_is_cancelled_after_the_grace(bot_factory: BotFactory) -> None:
    async with bot_factory(answer_within=0.01) as bot:
        status, _ = await bot.post(bot.payload("message_personal", text="slow"))
        assert status == 200
        [typing] = await bot.connector.wait_for(1)  # answered at once; the reply is to follow
        assert typing.activity_type == "typing"
        (late,) = bot.adapter._background

        await bot.adapter.close(grace=0.01)

        assert late.cancelled()
        assert bot.adapter._background == set() and bot.adapter._in_turn == set()
        assert len(bot.connector.calls) == 1


async def test_work_that_finishes_within_the_grace_is_delivered(bot_factory: BotFactory) -> None:
    async with bot_factory(answer_within=60) as bot:
        posting = asyncio.create_task(bot.post(bot.payload("message_personal", text="slow")))
        await _reached(bot)
        (work,) = bot.adapter._in_turn
        closing = asyncio.create_task(bot.adapter.close(grace=60))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not closing.done()
        bot.seen.gate.set()
        await closing
        status, _ = await posting

        assert status == 200 and not work.cancelled()
        [reply] = await bot.connector.wait_for(1)
        assert reply.cards


async def test_requests_after_close_get_503_and_start_nothing(bot_factory: BotFactory) -> None:
    async with bot_factory() as bot:
        await bot.adapter.close(grace=0.01)
        resp = await bot.client.post("/api/messages", json=bot.payload("message_personal"))

        assert resp.status == 503
        assert bot.seen.commands == []
        assert bot.connector.calls == []


async def test_a_turn_reaching_its_work_after_close_starts_nothing(bot_factory: BotFactory) -> None:
    # A request already past the door when shutdown finished: its work is dropped, not left running.
    async with bot_factory() as bot:
        bot.adapter._closing = False  # reopen the door only; the adapter has finished closing
        await bot.adapter.close(grace=0.01)
        bot.adapter._closing = False
        status, _ = await bot.post(bot.payload("invoke_execute", value=execute_value(CANCEL)))

        assert status == 503
        assert bot.seen.actions == []
        assert bot.adapter._in_turn == set()


class _HeldStore:
    """The real store, but the de-duplication lookup waits for the test: a request held mid-flight."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def seen_event(self, source: str, event_id: str) -> bool:
        self.reached.set()
        await self.release.wait()
        return bool(await self._store.seen_event(source, event_id))


async def test_a_request_in_flight_before_its_work_started_is_still_served(bot_factory: BotFactory) -> None:
    # aiohttp runs on_shutdown (our close) before it waits for requests in flight: close must wait for them.
    async with bot_factory() as bot:
        held = _HeldStore(bot.store)
        bot.adapter.store = held
        posting = asyncio.create_task(bot.post(bot.payload("message_personal")))
        async with asyncio.timeout(10):  # a safety net against a hang only
            await held.reached.wait()
        closing = asyncio.create_task(bot.adapter.close(grace=60))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not closing.done()  # waiting for the request, although no work has started yet
        held.release.set()
        status, _ = await posting
        await closing

        assert status == 200
        assert len(bot.seen.commands) == 1
        [reply] = await bot.connector.wait_for(1)
        assert reply.cards
