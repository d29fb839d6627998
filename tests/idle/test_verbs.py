"""`idle`, Snooze and Delete now: the whole bot over Slack (in this process) against the emulator in its own
process. A deployment approved in a channel is warned about there (its home); one made straight through ARM
goes to FTBOT_ALERT_CHANNEL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from bot.app import RunningBot
from bot.config import Roles
from handlers.idle import IdleSweeper
from tests.deploy.support import EmulatorProcess, button, click
from tests.deploy.test_verbs import APPROVER, deploy_and_approve, say
from tests.idle.support import arm_deploy, deployable_models
from tests.slack.conftest import slack_bot
from tests.slack.fake_slack_api import Call, FakeSlackApi
from tests.slack.payloads import CHANNEL, USER
from tests.watch.harness import header

ALERTS = "C0ALERTS01"
DAY = 86400.0


@pytest.fixture
async def bot(slack_api: FakeSlackApi, emu: EmulatorProcess, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with slack_bot(
        emu,
        tmp_path,
        slack_api,
        azure_static_token="emulator-token-not-secret",
        deploy_poll_interval=0.2,
        idle_sweep_interval=3600,  # the test sweeps by hand
        alert_channel=f"slack:{ALERTS}",
        roles=Roles(approvers=[APPROVER], operators=[APPROVER]),
    ) as running:
        yield running


def warning_of(slack: FakeSlackApi, name: str) -> Call:
    found = [c for c in slack.posted() if f"{name} will be deleted" in header(c)]
    assert len(found) == 1, [header(c) for c in slack.posted()]
    return found[0]


async def test_idle_list_snooze_and_delete_now(
    bot: RunningBot, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    job = await emu.succeeded_job()
    models = await deployable_models(emu, job)
    await deploy_and_approve(bot, slack_api, emu, job, "home-a")
    async with httpx.AsyncClient() as http:
        await arm_deploy(http, emu, "direct-b", models[1])
    await emu.advance(300)
    await emu.advance(12 * DAY)

    sweeper: IdleSweeper = bot.ctx.extras["idle"]
    report = await sweeper.tick()
    assert report is not None and report.deployments == 2 and report.metrics_calls == 1
    assert await sweeper.tick() is None  # swept a moment ago: not again before the interval
    home, direct = warning_of(slack_api, "home-a"), warning_of(slack_api, "direct-b")
    assert home.args["channel"] == CHANNEL and direct.args["channel"] == ALERTS

    listing = await say(bot, slack_api, "idle")
    text = json.dumps(listing.args["blocks"])
    assert "home-a" in text and "direct-b" in text and "in 2 days" in text and "USD" in text

    async with aiohttp.ClientSession() as http:
        # Snooze by the person who asked for the deployment: allowed, audited.
        action_id, value = button(home.args["blocks"], "Snooze 1 day")
        assert await click(http, bot.url, action_id, value, home.result["ts"], USER, "ada") == 200
        await bot.adapters["slack"].drain()
        row = await bot.store.idle_row("default", "home-a")
        assert row is not None and row.snoozed_until is not None
        assert any(e.action == "idle.snooze" for e in await bot.store.recent_audit(20, "home-a"))

        # Delete now on a deployment nobody here asked for: operators only.
        action_id, value = button(direct.args["blocks"], "Delete now")
        assert await click(http, bot.url, action_id, value, direct.result["ts"], USER, "ada") == 200
        await bot.adapters["slack"].drain()
        assert "direct-b" in await emu.deployments()
        assert any("Not allowed" in json.dumps(m) for m in slack_api.messages())
        assert await click(http, bot.url, action_id, value, direct.result["ts"], APPROVER, "grace") == 200
        await bot.adapters["slack"].drain()
    await emu.advance(60)
    assert "direct-b" not in await emu.deployments()
    assert await bot.store.idle_row("default", "direct-b") is None
