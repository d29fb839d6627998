"""Acceptance (issue 13): the idle guard against the emulator in its own process, its clock moved by days.

Deployments are made straight through ARM (not through the bot), so warnings go to FTBOT_ALERT_CHANNEL. The
bot is a real `ftbot serve` process (restarted once on the same database); every Slack call is counted at the
stand-in Slack API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import aiohttp
import httpx

from tests.cards.validate import assert_valid_blocks
from tests.deploy.support import (
    BotProcess,
    EmulatorProcess,
    bot_process_env,
    button,
    click,
    start_bot_process,
    stop_process,
    until,
)
from tests.idle.support import arm_deploy, call, deployable_models, metrics_total
from tests.slack import payloads
from tests.slack.fake_slack_api import Call, FakeSlackApi
from tests.slack.signing import interactive_body, signed_headers
from tests.watch.harness import header

DAY = 86400.0


def titled(slack: FakeSlackApi, text: str) -> list[Call]:
    return [c for c in slack.posted() if text in header(c)]


def warnings(slack: FakeSlackApi, name: str) -> list[Call]:
    return titled(slack, f"{name} will be deleted")


async def eventually(check: Callable[[], bool], what: str, within: float = 20) -> None:
    try:
        async with asyncio.timeout(within):
            while not check():  # noqa: ASYNC110 - the effect happens in another process
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def settle(seconds: float = 2.5) -> None:
    """Let a few 1-second sweeps (and deliveries) run."""
    await asyncio.sleep(seconds)


def labels(call: Call) -> list[str]:
    found = []
    for block in call.args.get("blocks") or []:
        if block.get("type") == "actions":
            found += [e["text"]["text"] for e in block.get("elements", []) if e.get("type") == "button"]
    return found


async def test_idle_guard_warns_once_keeps_alive_and_reports_deletion(
    emu: EmulatorProcess, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    first = await emu.succeeded_job()
    second = await emu.succeeded_job()
    models = await deployable_models(emu, first) + await deployable_models(emu, second)
    # Developer deployments are for o4-mini and the gpt-4.1 family only (fine-tuning-deploy.md, 2026-02-11).
    developer = await emu.succeeded_job(model="gpt-4.1-mini-2025-04-14")
    [dev_model, *_] = await deployable_models(emu, developer)
    config = tmp_path / "ftbot.toml"
    config.write_text(f'[roles]\noperators = ["{payloads.USER}"]\n', encoding="utf-8")
    env = bot_process_env(
        emu,
        f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        slack_api.api_url,
        config,
        FTBOT_IDLE_SWEEP_INTERVAL="1",
        FTBOT_WATCH_INTERVAL="1",
        FTBOT_ALERT_CHANNEL=f"slack:{payloads.CHANNEL}",
    )
    async with httpx.AsyncClient(timeout=10) as http, aiohttp.ClientSession() as session:
        # Made outside the bot, as in the portal: two idle ones, one called every day, one Developer (with the
        # SKU in lower case, as Microsoft's REST samples spell it and ARM echoes it).
        await arm_deploy(http, emu, "idle-a", models[0])
        await arm_deploy(http, emu, "idle-b", models[1])
        await arm_deploy(http, emu, "busy-c", models[2])
        await arm_deploy(http, emu, "dev-d", dev_model, sku="developertier")
        await emu.advance(300)  # provisioned

        async def days(n: int) -> None:
            for _ in range(n):
                await emu.advance(DAY)
                await call(http, emu, "busy-c")

        bot: BotProcess = await start_bot_process(env)
        try:
            # Developer: 2 hours before its 24 h end, a warning without Keep alive; then the deleted note.
            await emu.advance(22.5 * 3600)
            await call(http, emu, "busy-c")
            await eventually(lambda: len(warnings(slack_api, "dev-d")) == 1, "the Developer warning")
            dev_warning = warnings(slack_api, "dev-d")[0]
            assert "Keep alive" not in labels(dev_warning)
            assert "Delete now" in labels(dev_warning)
            await emu.advance(2.5 * 3600)
            await eventually(lambda: bool(titled(slack_api, "dev-d was deleted by Azure")), "dev-d deleted")
            assert "Redeploy" in labels(titled(slack_api, "dev-d was deleted by Azure")[0])
            assert not warnings(slack_api, "idle-a")

            # Day 12 (from creation): the 3-day warnings, in the alert channel, once.
            await days(11)
            await eventually(
                lambda: len(warnings(slack_api, "idle-a")) == 1 and len(warnings(slack_api, "idle-b")) == 1,
                "the 3-day warnings",
            )
            warning = warnings(slack_api, "idle-a")[0]
            assert warning.args["channel"] == payloads.CHANNEL
            text = json.dumps(warning.args["blocks"])
            for expected in ("idle-a", models[0], "default", "Standard", "in 2 days 22 hours", "1.70 USD"):
                assert expected in text, expected
            assert labels(warning) == ["Keep alive", "Delete now", "Snooze 1 day"]
            assert_valid_blocks(warning.args)

            # A restart on the same database repeats nothing.
            await stop_process(bot.process)
            bot = await start_bot_process(env)
            await settle()
            assert len(warnings(slack_api, "idle-a")) == 1
            assert len(warnings(slack_api, "idle-b")) == 1

            # Day 14: the 1-day warnings, once each.
            await days(2)
            await eventually(
                lambda: len(warnings(slack_api, "idle-a")) == 2 and len(warnings(slack_api, "idle-b")) == 2,
                "the 1-day warnings",
            )
            one_day = warnings(slack_api, "idle-a")[1]
            assert "in 22 hours" in header(one_day)

            # Keep alive on idle-a: one completion the emulator's metrics show; nothing more to warn about.
            before = await metrics_total(http, emu, "idle-a")
            action_id, value = button(one_day.args["blocks"], "Keep alive")
            assert await click(session, bot.url, action_id, value, one_day.result["ts"], payloads.USER) == 200
            await until(lambda: _more(http, emu, before))  # the keep-alive call, in the metrics
            await emu.advance(0.5 * DAY)
            await call(http, emu, "busy-c")
            await settle()
            assert len(warnings(slack_api, "idle-a")) == 2

            # Day 15: Azure (the emulator) deletes idle-b; the bot says so, with Redeploy.
            await emu.advance(0.6 * DAY)
            await call(http, emu, "busy-c")
            await eventually(lambda: bool(titled(slack_api, "idle-b was deleted by Azure")), "idle-b deleted")
            deleted = titled(slack_api, "idle-b was deleted by Azure")
            assert len(deleted) == 1
            assert models[1] in json.dumps(deleted[0].args["blocks"])
            assert "idle-a" in await emu.deployments() and "idle-b" not in await emu.deployments()
            await settle()
            assert len(warnings(slack_api, "idle-a")) == 2
            assert not warnings(slack_api, "busy-c"), "a deployment called every day was warned about"
            assert len(titled(slack_api, "idle-b was deleted by Azure")) == 1

            # Redeploy goes through an approval request.
            sent = len(slack_api.messages())
            action_id, value = button(deleted[0].args["blocks"], "Redeploy")
            assert await press(session, bot.url, slack_api, action_id, value, deleted[0].result["ts"]) == 200
            await eventually(lambda: len(slack_api.messages()) > sent, "the answer to Redeploy")
            answer = json.dumps(slack_api.messages()[sent:])
            assert "Deploy" in answer and models[1] in answer and "idle-b" in answer, answer[:2000]
        finally:
            await stop_process(bot.process)


async def press(
    http: aiohttp.ClientSession, bot_url: str, slack: FakeSlackApi, action_id: str, value: str, ts: str
) -> int:
    """A click with a response_url, so an answer that goes there is seen too."""
    payload = payloads.block_actions(action_id, value, message_ts=ts, response_url=slack.response_url())
    body, content_type = interactive_body(payload)
    resp = await http.post(
        f"{bot_url}/slack/events", data=body.encode(), headers=signed_headers(body, content_type)
    )
    return resp.status


async def _more(http: httpx.AsyncClient, emu: EmulatorProcess, before: float) -> bool:
    return await metrics_total(http, emu, "idle-a") > before
