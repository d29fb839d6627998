"""Acceptance (issue 11), Teams: the whole bot (real botbuilder CloudAdapter over HTTP, real handlers, SQLite
file) against the emulator in its own process; only the Bot Connector is a stand-in."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from bot.app import RunningBot, start_bot
from bot.config import Roles, load_settings
from emulator import datasets
from tests.conftest import bot_settings
from tests.deploy.support import API, EmulatorProcess, until
from tests.teams.conftest import assert_cards_valid, card_text, payload
from tests.teams.fake_connector import FakeConnector

CHANNEL = "19:chan-general@thread.tacv2;messageid=1700000000002"
REQUESTER_AAD = "00000000-0000-0000-0000-0000000000a1"
APPROVER_AAD = "00000000-0000-0000-0000-0000000000b2"
STRANGER_AAD = "00000000-0000-0000-0000-0000000000c3"
_ids = itertools.count(1)


@pytest.fixture
async def bot(connector: FakeConnector, emu: EmulatorProcess, tmp_path: Path) -> AsyncIterator[RunningBot]:
    settings = bot_settings(
        emu,
        tmp_path,
        azure_static_token="emulator-token-not-secret",
        deploy_poll_interval=0.2,
        roles=Roles(approvers=[APPROVER_AAD]),
    )
    running = await start_bot(settings)
    try:
        yield running
    finally:
        await running.close()
    assert_cards_valid(connector.calls)


async def post(bot: RunningBot, activity: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{bot.url}/api/messages", json=activity)
        return resp.status, (await resp.json() if resp.content_type == "application/json" else None)


def execute(card: dict[str, Any], title: str) -> dict[str, Any]:
    for action in card.get("actions", []):
        if action["type"] == "Action.Execute" and action["title"] == title:
            return dict(action["data"])
        if action["type"] == "Action.ShowCard" and action["title"] == title:
            return dict(action["card"]["actions"][0]["data"])
    raise AssertionError(f"no {title!r} button")


def click(
    connector: FakeConnector, data: dict[str, Any], card_id: str, aad: str, name: str
) -> dict[str, Any]:
    mention = payload("message_channel_mention", connector.url)
    return payload(
        "invoke_execute",
        connector.url,
        id=f"f:click-{next(_ids)}",
        conversation=mention["conversation"],
        channelData=mention["channelData"],
        replyToId=card_id,
        value={"action": {"type": "Action.Execute", "data": data}, "trigger": "manual"},
        **{"from": {"id": f"29:{name}", "name": name, "aadObjectId": aad}},
    )


async def test_teams_request_approve_deployed_and_refusals(
    bot: RunningBot, connector: FakeConnector, emu: EmulatorProcess
) -> None:
    job = await emu.succeeded_job()
    text = f"<at>ftbot</at> deploy {job} --name teams-model"
    status, _ = await post(bot, payload("message_channel_mention", connector.url, text=text))
    assert status == 200
    [reply] = await connector.wait_for(1)
    card = reply.cards[0]
    assert "Asked by" in card_text(card) and "Ada Lovelace" in card_text(card)
    # Approvers see buttons; Teams refreshes the card for the requester, who gets a status line instead.
    assert card["refresh"]["userIds"] == ["29:1user-abc"]
    approve = execute(card, "Approve")
    card_id = "act-1"

    # The requester's own click and a non-approver's click: refused privately, audited, card unchanged.
    for aad, name in ((REQUESTER_AAD, "Ada Lovelace"), (STRANGER_AAD, "Mallory")):
        status, body = await post(bot, click(connector, approve, card_id, aad, name))
        assert status == 200 and body["type"] == "application/vnd.microsoft.activity.message", body
        assert "may not approve" in body["value"]
    assert connector.of_kind("update") == [] and len(connector.calls) == 1
    refused = [
        e for e in await bot.store.recent_audit(10, "teams-model") if e.action == "deploy.approve.refused"
    ]
    assert len(refused) == 2

    # The requester's automatic refresh: a status line, no buttons.
    view = {**approve, "action": "deploy.view"}
    status, body = await post(bot, click(connector, view, card_id, REQUESTER_AAD, "Ada Lovelace"))
    assert (
        status == 200
        and "actions" not in body["value"]
        and "Waiting for an approver" in card_text(body["value"])
    )

    status, body = await post(bot, click(connector, approve, card_id, APPROVER_AAD, "Grace Hopper"))
    assert status == 200
    assert await emu.puts() == 1
    updated = await connector.wait_until(lambda calls: any(c.kind == "update" for c in calls))
    first = next(c for c in updated if c.kind == "update")
    assert first.activity_id == card_id and "Approved by Grace Hopper" in card_text(first.cards[0])

    await emu.advance(600)

    async def deployed() -> bool:
        return any("Deployed teams-model" in card_text(c.cards[0]) for c in connector.of_kind("update"))

    await until(deployed)
    assert await emu.puts() == 1
    assert (await emu.deployments()) == {"teams-model": "Succeeded"}


async def test_local_embedded_default_one_person_holds_every_role(
    connector: FakeConnector, tmp_path: Path
) -> None:

    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ftbot.db'}",
        emulator_speed=0.001,
        deploy_poll_interval=0.2,
    )
    bot = await start_bot(settings, host="127.0.0.1", port=0)
    try:
        assert bot.ctx.policy is not None and bot.ctx.policy.local
        async with httpx.AsyncClient(
            base_url=bot.emulator.url, headers={"api-key": "k"}, params=API
        ) as azure:
            content = datasets.path("good_training").read_bytes()
            uploaded = await azure.post(
                "/openai/files", data={"purpose": "fine-tune"}, files={"file": ("t.jsonl", content)}
            )
            bot.emulator.advance(60)
            created = await azure.post(
                "/openai/fine_tuning/jobs",
                # Developer deployments: o4-mini and the gpt-4.1 family (fine-tuning-deploy.md)
                json={"model": "gpt-4.1-mini-2025-04-14", "training_file": uploaded.json()["id"]},
            )
            job = created.json()["id"]
            for _ in range(20):
                bot.emulator.advance(600)
                if (await azure.get(f"/openai/fine_tuning/jobs/{job}")).json()["status"] == "succeeded":
                    break
        text = f"<at>ftbot</at> deploy {job} --name mine --sku developer"
        status, _ = await post(bot, payload("message_channel_mention", connector.url, text=text))
        assert status == 200
        [reply] = await connector.wait_for(1)
        shown = card_text(reply.cards[0])
        assert "hold every role" in shown and "No hosting fee" in shown and "24 hours" in shown
        status, _ = await post(
            bot, click(connector, execute(reply.cards[0], "Approve"), "act-1", REQUESTER_AAD, "Ada")
        )
        assert status == 200
        state = bot.emulator.state.summary()
        assert state["counters"]["deployments.put"] == 1
        assert list(state["accounts"]["emulated-aoai"]["deployments"]) == ["mine"]
    finally:
        await bot.close()
