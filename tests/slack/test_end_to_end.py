"""Acceptance (issue 4): the whole bot (`bot.app.start_bot`, embedded emulator, real handlers, SQLite) answers
signed Slack requests; only the Slack Web API is a stand-in."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from bot.app import RunningBot, start_bot
from bot.config import load_settings
from emulator import datasets
from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.signing import SIGNING_SECRET, form_body, signed_headers

API = {"api-version": "2025-04-01-preview"}


@pytest.fixture
async def bot(slack_api: FakeSlackApi, tmp_path: Path) -> AsyncIterator[RunningBot]:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ftbot.db'}",
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack_api.api_url,
        emulator_speed=0.001,  # simulated time barely moves by itself: the test moves it
    )
    running = await start_bot(settings, host="127.0.0.1", port=0)
    try:
        yield running
    finally:
        await running.close()


async def _running_job(bot: RunningBot) -> str:
    async with httpx.AsyncClient(base_url=bot.emulator.url, headers={"api-key": "k"}, params=API) as azure:
        content = datasets.path("good_training").read_bytes()
        uploaded = await azure.post(
            "/openai/files", data={"purpose": "fine-tune"}, files={"file": ("train.jsonl", content)}
        )
        assert uploaded.status_code == 201, uploaded.text
        bot.emulator.advance(60)
        created = await azure.post(
            "/openai/fine_tuning/jobs",
            json={"model": "gpt-4o-mini-2024-07-18", "training_file": uploaded.json()["id"]},
        )
        assert created.status_code == 201, created.text
        job_id: str = created.json()["id"]
        bot.emulator.advance(200)
        job = (await azure.get(f"/openai/fine_tuning/jobs/{job_id}")).json()
        assert job["status"] == "running", job
        return job_id


async def _slash(bot: RunningBot, text: str) -> int:
    body, content_type = form_body(payloads.slash_command(text))
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{bot.url}/slack/events", data=body.encode(), headers=signed_headers(body, content_type)
        )
        return resp.status


async def test_status_of_a_running_job_posts_its_card(bot: RunningBot, slack_api: FakeSlackApi) -> None:
    job_id = await _running_job(bot)
    assert await _slash(bot, f"status {job_id}") == 200
    (post,) = await slack_api.wait_for("chat.postMessage")
    await bot.adapters["slack"].drain()
    blocks = json.dumps(post.args["blocks"])
    assert job_id in blocks
    assert "running" in blocks.lower()
    assert post.args["channel"] == payloads.CHANNEL
    ref = await bot.store.find_message(f"job:{job_id}", f"slack:{payloads.CHANNEL}")
    assert ref is not None and ref.conversation_id == payloads.CHANNEL


async def test_nonsense_gets_a_usage_card(bot: RunningBot, slack_api: FakeSlackApi) -> None:
    assert await _slash(bot, "nonsense") == 200
    (ephemeral,) = await slack_api.wait_for("chat.postEphemeral")
    assert ephemeral.args["user"] == payloads.USER
    assert "nonsense" in json.dumps(ephemeral.args["blocks"])
    assert "/ft help" in json.dumps(ephemeral.args["blocks"])
