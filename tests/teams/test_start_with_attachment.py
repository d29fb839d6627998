"""Acceptance (issue 5): a file attached in a Teams personal chat starts a job (or, when invalid, gets the
validation report and starts nothing). The attachment's download URL is served locally, as SharePoint would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import RunningBot, start_bot
from bot.config import load_settings
from tests.support import datasets_app, serve
from tests.teams.conftest import assert_cards_valid, card_text, payload
from tests.teams.fake_connector import FakeConnector
from tests.teams.test_end_to_end import post

MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
async def bot(connector: FakeConnector, tmp_path: Path) -> AsyncIterator[RunningBot]:
    """The whole bot on its embedded default; the emulator runs fast enough for uploads to be processed."""
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'ftbot.db'}", emulator_speed=10)
    running = await start_bot(settings, host="127.0.0.1", port=0)
    try:
        yield running
    finally:
        await running.close()
    assert_cards_valid(connector.calls)


@pytest.fixture
async def file_host() -> AsyncIterator[str]:
    async with serve(datasets_app("/files")) as url:
        yield f"{url}/files"


def with_file(connector: FakeConnector, text: str, url: str, name: str) -> dict[str, Any]:
    activity = payload("file_personal", connector.url, text=text)
    activity["attachments"][0]["name"] = name
    activity["attachments"][0]["content"]["downloadUrl"] = url
    return activity


def cards(connector: FakeConnector) -> list[str]:
    texts = []
    for call in connector.calls:
        for attachment in call.body.get("attachments") or []:
            texts.append(card_text(attachment["content"]))
    return texts


async def test_personal_chat_attachment_starts_a_job(
    bot: RunningBot, connector: FakeConnector, file_host: str
) -> None:
    activity = with_file(
        connector, f"start {MODEL} --seed 7", f"{file_host}/good_training.jsonl", "train.jsonl"
    )
    status, _ = await post(bot, activity)
    assert status == 200
    # The job card (with the data check's outcome on it or in a report before it).
    await connector.wait_until(lambda _: any("ftjob-" in text for text in cards(connector)))
    texts = cards(connector)
    job_text = next(t for t in texts if "ftjob-" in t)
    job_id = "ftjob-" + job_text.split("ftjob-", 1)[1][:32]
    job = await bot.ctx.azure.data().get_job(job_id)
    assert job.seed == 7 and job.model == MODEL
    stored = await bot.store.get_job(job_id)
    assert stored is not None and stored.home_conversation == "teams:a:1personal-chat-xyz"


async def test_invalid_attachment_gets_the_report_and_starts_nothing(
    bot: RunningBot, connector: FakeConnector, file_host: str
) -> None:
    activity = with_file(connector, f"start {MODEL}", f"{file_host}/invalid_jsonl.jsonl", "bad.jsonl")
    status, _ = await post(bot, activity)
    assert status == 200
    await connector.wait_for(1)
    [report] = cards(connector)
    assert "Line" in report and "bad.jsonl" in report
    assert bot.emulator.state.counters["files.upload"] == 0
    assert bot.emulator.state.counters["jobs.create"] == 0


async def test_checking_an_attachment_shows_a_typing_indicator_before_the_job_card(
    bot: RunningBot, connector: FakeConnector, file_host: str
) -> None:
    """Progress on Teams is kept light: a typing indicator while the file is fetched and checked."""
    activity = with_file(connector, f"start {MODEL}", f"{file_host}/good_training.jsonl", "train.jsonl")
    status, _ = await post(bot, activity)
    assert status == 200
    await connector.wait_until(lambda _: any("ftjob-" in text for text in cards(connector)))
    kinds = [c.activity_type for c in connector.calls]
    first_card = next(
        i
        for i, c in enumerate(connector.calls)
        if any("ftjob-" in card_text(a["content"]) for a in c.body.get("attachments") or [])
    )
    assert "typing" in kinds[:first_card], kinds
