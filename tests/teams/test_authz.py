"""Who may do what over Teams, through the whole bot (`start_bot`, real botbuilder adapter over HTTP, real
handlers, SQLite, the emulator as Azure): members are matched by their AAD object id; a refused button click
is answered to the clicker alone (the invoke response) and never posted for everybody."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import RunningBot, start_bot
from bot.azure.models import JobStatus
from bot.model import Conversation, User
from cards.jobs import CANCEL
from cards.payload import pack_teams, teams_verb
from emulator import datasets
from tests.conftest import bot_settings
from tests.teams.conftest import assert_cards_valid, card_text, payload
from tests.teams.fake_connector import FakeConnector

ADA_AAD = "00000000-0000-0000-0000-0000000000a1"  # the sender of the recorded payloads (29:1user-abc)
STARTER = "29:1user-grace"
PERSONAL = "a:1personal-chat-xyz"
MODEL = "gpt-4o-mini-2024-07-18"


async def whole_bot(emulator: Any, tmp_path: Path, **roles: Any) -> RunningBot:
    # No chat platform configured and Azure (the emulator) on this machine: Teams serves the Bot Framework
    # Emulator's unauthenticated local use, but the policy is the configured one (not local use).
    return await start_bot(bot_settings(emulator, tmp_path, roles=roles))


@pytest.fixture
async def bot(emulator: Any, tmp_path: Path, connector: FakeConnector) -> AsyncIterator[RunningBot]:
    running = await whole_bot(emulator, tmp_path)
    try:
        yield running
    finally:
        await running.close()
    assert_cards_valid(connector.calls)


async def grace_job(bot: RunningBot, emulator: Any) -> str:
    """A running job Grace started in another chat than the one the recorded payloads come from."""
    client = bot.ctx.azure.data()
    train = await client.upload_file(datasets.path("good_training"))
    emulator.advance(60)
    job = await client.create_job(MODEL, train.id)
    emulator.advance(200)
    home = Conversation("teams", "19:another-chat@thread.v2")
    await bot.store.record_job(
        job.id, resource="default", home=home, user=User(STARTER), model=MODEL, status=None
    )
    return str(job.id)


async def post(bot: RunningBot, activity: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{bot.url}/api/messages", json=activity)
        body = await resp.json() if resp.content_type == "application/json" else None
    await bot.adapters["teams"].wait_idle()
    return resp.status, body


def cancel_click(connector: FakeConnector, job_id: str) -> dict[str, Any]:
    data = pack_teams(CANCEL, {"job": job_id})
    value = {
        "action": {"type": "Action.Execute", "verb": teams_verb(CANCEL), "data": data},
        "trigger": "manual",
    }
    return payload("invoke_execute", connector.url, value=value)


async def test_a_refused_click_is_answered_privately_audited_and_nothing_changes(
    bot: RunningBot, connector: FakeConnector, emulator: Any
) -> None:
    job_id = await grace_job(bot, emulator)

    status, body = await post(bot, cancel_click(connector, job_id))

    assert status == 200
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert "only the person who started this job or an operator may change it" in body["value"]
    assert connector.calls == [], "the refusal is not posted for everybody"
    trail = [(e.action, e.actor) for e in await bot.store.audit_trail(job_id)]
    assert trail == [("job.manage.refused", "29:1user-abc")]
    assert emulator.state.counters["jobs.cancel"] == 0
    assert (await bot.ctx.azure.data().get_job(job_id)).status == JobStatus.RUNNING


async def test_a_refused_command_says_why(bot: RunningBot, connector: FakeConnector, emulator: Any) -> None:
    job_id = await grace_job(bot, emulator)
    status, _ = await post(bot, payload("message_personal", connector.url, text=f"status {job_id}"))
    assert status == 200
    [reply] = await connector.wait_for(1)
    assert "only the person who started it and operators may see it here" in card_text(reply.cards[0])
    assert [e.action for e in await bot.store.audit_trail(job_id)] == ["job.view.refused"]


async def test_an_operator_listed_by_aad_object_id_may_cancel(
    emulator: Any, tmp_path: Path, connector: FakeConnector
) -> None:
    bot = await whole_bot(emulator, tmp_path, operators=[ADA_AAD])
    try:
        job_id = await grace_job(bot, emulator)
        status, body = await post(bot, cancel_click(connector, job_id))
        assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
        assert [(e.action, e.actor) for e in await bot.store.audit_trail(job_id)] == [
            ("job.cancel", "29:1user-abc")
        ]
        assert emulator.state.counters["jobs.cancel"] == 1
    finally:
        await bot.close()
