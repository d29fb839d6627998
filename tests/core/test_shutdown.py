"""Graceful stop: work accepted before the stop is finished and answered, then everything closes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bot.app import start_bot
from emulator.faults import FaultSpec
from tests.conftest import bot_settings
from tests.teams.conftest import payload
from tests.teams.fake_connector import FakeConnector


async def test_in_flight_request_is_answered_before_the_bot_stops(emulator: Any, tmp_path: Path) -> None:
    connector = FakeConnector()
    await connector.start()
    bot = await start_bot(bot_settings(emulator, tmp_path))
    try:
        emulator.state.faults.set("dataplane", FaultSpec(latency_ms=800))
        activity = payload("message_personal", connector.url, text="list")
        async with aiohttp.ClientSession() as http:
            request = asyncio.create_task(http.post(f"{bot.url}/api/messages", json=activity))
            server = bot.runner.server
            assert server is not None
            async with asyncio.timeout(10):  # a guard against a hang, not a timing assertion
                # until the request is being handled (waiting on Azure); aiohttp offers no event for this
                while server.requests_count == 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            await bot.close()
            response = await request
            assert response.status == 200
        calls = await connector.wait_for(1)
        assert any("Fine-tuning jobs" in str(c.body) for c in calls), "the answer was delivered"
        async with httpx.AsyncClient() as client:
            try:
                await client.get(f"{bot.url}/healthz", timeout=1)
                raise AssertionError("the bot still answers after close()")
            except httpx.TransportError:
                pass
    finally:
        await connector.close()
