"""Acceptance (issue 4): the whole bot (`bot.app.start_bot`, embedded emulator, real handlers, SQLite) answers
Teams activities; only the Bot Connector is a stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from bot.app import RunningBot, start_bot
from bot.config import load_settings
from emulator import datasets
from tests.cards.validate import assert_valid_adaptive
from tests.teams.conftest import assert_cards_valid, card_text, payload
from tests.teams.fake_connector import FakeConnector

API = {"api-version": "2025-04-01-preview"}
CHANNEL = "19:chan-general@thread.tacv2;messageid=1700000000002"


@pytest.fixture
async def bot(connector: FakeConnector, tmp_path: Path) -> AsyncIterator[RunningBot]:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ftbot.db'}",
        emulator_speed=0.001,  # simulated time barely moves by itself: the test moves it
    )
    running = await start_bot(settings, host="127.0.0.1", port=0)
    try:
        yield running
    finally:
        await running.close()
    assert_cards_valid(connector.calls)


async def running_job(bot: RunningBot) -> str:
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


async def post(bot: RunningBot, activity: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{bot.url}/api/messages", json=activity)
        return resp.status, (await resp.json() if resp.content_type == "application/json" else None)


def execute_data(card: dict[str, Any], title: str) -> dict[str, Any]:
    """The `data` of the card's `Action.Execute` button called `title`, as Teams would send it back."""
    for action in card.get("actions", []):
        if action["type"] == "Action.Execute" and action["title"] == title:
            data: dict[str, Any] = action["data"]
            return data
    raise AssertionError(f"no {title!r} button on the card")


async def test_mention_status_of_a_running_job_posts_its_card(
    bot: RunningBot, connector: FakeConnector
) -> None:
    job_id = await running_job(bot)
    text = f"<at>ftbot</at> status {job_id}"

    status, _ = await post(bot, payload("message_channel_mention", connector.url, text=text))

    assert status == 200
    [reply] = await connector.wait_for(1)
    assert (reply.kind, reply.conversation_id) == ("reply", CHANNEL)
    shown = card_text(reply.cards[0])
    assert job_id in shown and "running" in shown.lower()
    ref = await bot.store.find_message(f"job:{job_id}", f"teams:{CHANNEL}")
    assert ref is not None and ref.message_id == "act-1"

    # The card's Refresh button comes back as an Action.Execute invoke and is answered with the card.
    value = {"action": {"type": "Action.Execute", "data": execute_data(reply.cards[0], "Refresh")}}
    click = payload("invoke_execute", connector.url, value=value, replyToId="act-1")
    status, body = await post(bot, click)

    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    assert job_id in card_text(body["value"])
    assert_valid_adaptive(body["value"])


async def test_nonsense_gets_a_usage_card(bot: RunningBot, connector: FakeConnector) -> None:
    status, _ = await post(bot, payload("message_personal", connector.url, text="nonsense"))

    assert status == 200
    [reply] = await connector.wait_for(1)
    shown = card_text(reply.cards[0])
    # A personal chat needs no mention: the hint reads as typed there.
    assert "nonsense" in shown and "help for all of them" in shown and "@ftbot" not in shown
