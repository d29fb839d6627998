"""Acceptance (issue 11): a deploy from a resource in another tenant carries the auxiliary token; without a
credential for that tenant the bot says what is missing before anyone is asked to approve."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import RunningBot, start_bot
from bot.config import AzureResource, Roles
from tests.conftest import bot_settings
from tests.deploy.support import SOURCE_TENANT, EmulatorProcess, button, click, slash, text_of, until
from tests.slack.conftest import BOT_TOKEN, assert_all_valid
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.payloads import CHANNEL
from tests.slack.signing import SIGNING_SECRET

APPROVER = "U0APPROVER1"
HOME_TENANT = "00000000-0000-0000-0000-0000000000aa"  # the emulator's default account


@pytest.fixture
async def bot(slack_api: FakeSlackApi, emu: EmulatorProcess, tmp_path: Path) -> AsyncIterator[RunningBot]:
    other = AzureResource(
        name="other",
        endpoint=emu.account_url("other-aoai"),
        api_key_env="OTHER_AOAI_KEY",
        subscription_id=emu.subscription_id,
        resource_group=emu.resource_group,
        account_name="other-aoai",
        tenant_id=SOURCE_TENANT,
        client_id_env="OTHER_TENANT_CLIENT_ID",
        client_secret_env="OTHER_TENANT_CLIENT_SECRET",
    )
    settings = bot_settings(
        emu,
        tmp_path,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack_api.api_url,
        azure_static_token="emulator-token-not-secret",
        tenant_id=HOME_TENANT,
        deploy_poll_interval=0.2,
        roles=Roles(approvers=[APPROVER]),
        resources=[other],
    )
    running = await start_bot(settings)
    try:
        yield running
    finally:
        await running.close()
    assert_all_valid(slack_api)


async def _ask(bot: RunningBot, slack: FakeSlackApi, job: str) -> Any:
    before = len(slack.called("chat.postMessage")) + len(slack.called("chat.postEphemeral"))
    async with aiohttp.ClientSession() as http:
        assert await slash(http, bot.url, f"deploy {job} --name from-other --source-resource other") == 200
    await bot.adapters["slack"].drain()
    calls = [c for c in slack.calls if c.method in ("chat.postMessage", "chat.postEphemeral")]
    assert len(calls) == before + 1
    return calls[-1]


async def test_without_a_source_tenant_credential_nobody_is_asked(
    bot: RunningBot, slack_api: FakeSlackApi, emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTHER_AOAI_KEY", "k")
    job = await emu.succeeded_job(account="other-aoai")
    answer = await _ask(bot, slack_api, job)
    shown = text_of(answer.args["blocks"])
    assert answer.method == "chat.postEphemeral"
    assert "crosses tenants" in shown and "client_id_env" in shown and "Nobody was asked" in shown
    assert "deploy.approve" not in shown
    assert await emu.puts() == 0


async def test_cross_tenant_deploy_carries_the_auxiliary_token(
    bot: RunningBot, slack_api: FakeSlackApi, emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTHER_AOAI_KEY", "k")
    monkeypatch.setenv("OTHER_TENANT_CLIENT_ID", "client-id")
    monkeypatch.setenv("OTHER_TENANT_CLIENT_SECRET", "client-secret-not-real")
    job = await emu.succeeded_job(account="other-aoai")
    answer = await _ask(bot, slack_api, job)
    card = text_of(answer.args["blocks"])
    assert answer.method == "chat.postMessage" and "Cross-tenant" in card and SOURCE_TENANT in card
    action_id, value = button(answer.args["blocks"], "Approve")
    ref = await bot.store.find_message(f"approval:{json.loads(value)['id']}", f"slack:{CHANNEL}")
    assert ref is not None
    async with aiohttp.ClientSession() as http:
        assert await click(http, bot.url, action_id, value, ref.message_id, APPROVER, "grace") == 200
    await bot.adapters["slack"].drain()
    # The emulator refuses a cross-tenant PUT without `x-ms-authorization-auxiliary` (401): it took this one.
    assert await emu.puts() == 1
    assert list(await emu.deployments()) == ["from-other"]
    await emu.advance(600)

    async def deployed() -> bool:
        return any(
            "Deployed from-other" in text_of(c.args["blocks"]) for c in slack_api.called("chat.update")
        )

    await until(deployed)
