"""Issue 8 through the real botbuilder adapter: a Teams `start` whose create is carried out by Azure but
whose reply is lost (and the check listing fails) answers "may have been created"; the reconciler then finds
the job, records it with its home conversation and tells the chat proactively through the Connector, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import RunningBot, start_bot
from bot.config import load_settings
from handlers import reconcile
from tests.start_support import MODEL, Azure, fast_retries
from tests.teams.conftest import assert_cards_valid, card_text, payload
from tests.teams.fake_connector import Call, FakeConnector
from tests.teams.test_end_to_end import post

CONVERSATION = "a:1personal-chat-xyz"


@pytest.fixture
async def bot(connector: FakeConnector, tmp_path: Path) -> AsyncIterator[RunningBot]:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ftbot.db'}",
        emulator_speed=10,
        reconcile_interval=3600,
        start_settle=0,
    )
    running = await start_bot(settings, host="127.0.0.1", port=0)
    fast_retries(running.ctx.azure.data())
    try:
        yield running
    finally:
        await running.close()
    assert_cards_valid(connector.calls)


def texts(calls: list[Call]) -> list[str]:
    return ["\n".join(card_text(card) for card in call.cards) for call in calls if call.cards]


async def test_lost_create_reply_in_teams_is_settled_and_told_proactively(
    bot: RunningBot, connector: FakeConnector
) -> None:
    azure = Azure(bot.emulator.url)
    await azure.faults(only=r"^POST .*/fine_tuning/jobs$", drop_after=1.0)
    await azure.faults(only=r"^GET .*/fine_tuning/jobs$", error=1.0)
    text = f"start {MODEL} --training good_training --seed 7"
    status, _ = await post(bot, payload("message_personal", connector.url, text=text))
    assert status == 200
    calls = await connector.wait_until(lambda calls: any("may have been created" in t for t in texts(calls)))
    [answer] = [t for t in texts(calls) if "may have been created" in t]
    assert "list" in answer and "file-" in answer and "Traceback" not in answer
    await azure.clear_faults()
    [job] = await azure.jobs()
    assert await bot.store.get_job(job["id"]) is None

    before = len(connector.calls)
    await reconcile.reconcile_starts(bot.ctx)
    await reconcile.reconcile_starts(bot.ctx)
    calls = await connector.wait_for(before + 1)
    told = calls[before:]
    assert len(told) == 1 and told[0].kind == "send" and told[0].conversation_id == CONVERSATION
    assert job["id"] in texts(told)[0]
    stored = await bot.store.get_job(job["id"])
    assert stored is not None and stored.home_conversation == f"teams:{CONVERSATION}"
    assert stored.requested_by == "29:1user-abc"
