"""The whole bot behind the real Slack adapter (signed requests in, a stand-in Slack Web API out), with the
settings each fault test needs; what the user is told is read back from the stand-in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import RunningBot, start_bot
from tests.conftest import bot_settings
from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN, assert_all_valid
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.signing import SIGNING_SECRET, form_body, signed_headers

StartBot = Callable[..., Any]


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi(token=BOT_TOKEN) as fake:
        yield fake


@pytest.fixture
def slack_bot(slack_api: FakeSlackApi, emulator: Any, tmp_path: Path) -> StartBot:
    """`async with slack_bot(**settings) as bot:` the whole bot on the emulator, Slack its only platform."""

    @asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[RunningBot]:
        values: dict[str, Any] = {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": slack_api.api_url,
            "allow_local_files": True,
        }
        values.update(overrides)
        bot = await start_bot(bot_settings(emulator, tmp_path, **values))
        try:
            yield bot
        finally:
            await bot.close()
        assert_all_valid(slack_api)

    return running


async def slash(bot: RunningBot, text: str) -> None:
    """`/ft <text>` as Slack sends it; Slack must get its 200 (the ack) whatever happens after."""
    body, content_type = form_body(payloads.slash_command(text))
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{bot.url}/slack/events", data=body.encode(), headers=signed_headers(body, content_type)
        )
        assert resp.status == 200


async def answer(slack: FakeSlackApi, bot: RunningBot, count: int = 1, within: float = 20.0) -> str:
    """Everything the bot said in Slack once `count` messages were sent, as one lower-case text (`within`
    seconds is a safety net against a hang only)."""
    async with asyncio.timeout(within):
        while len(slack.messages()) < count:  # noqa: ASYNC110 - posts, ephemerals or response_url: any
            await asyncio.sleep(0.02)
        await bot.adapters["slack"].drain()
    return json.dumps(slack.messages()).lower()
