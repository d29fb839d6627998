"""Over capacity a Teams message gets a short "busy" reply at once instead of joining an unbounded queue."""

from __future__ import annotations

import asyncio

from adapters.inflight import BUSY
from tests.teams.conftest import BotFactory


async def test_a_message_over_capacity_gets_a_short_busy_reply(bot_factory: BotFactory) -> None:
    async with bot_factory(answer_within=60, max_inflight=1) as bot:
        slow = asyncio.create_task(bot.post(bot.payload("message_personal", text="slow")))
        async with asyncio.timeout(10):
            await bot.seen.reached.wait()

        status, _ = await bot.post(bot.payload("message_personal", id="1700000000002"))

        assert status == 200
        [reply] = await bot.connector.wait_for(1)
        assert reply.kind == "reply" and reply.body.get("text") == BUSY
        assert [c.verb for c in bot.seen.commands] == ["slow"]  # the status command never ran
        bot.seen.gate.set()
        await slow
        await bot.connector.wait_for(2)
