"""The checks `deploy` makes before asking anyone, and `deployments`, `undeploy`, `cleanup`, `audit`: the
whole bot over Slack against the emulator in its own process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import RunningBot
from bot.config import Roles
from bot.model import Conversation, User
from tests.deploy.support import EmulatorProcess, button, click, slash, text_of, until
from tests.slack.conftest import slack_bot
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.payloads import CHANNEL, USER

APPROVER = "U0APPROVER1"


@pytest.fixture
async def bot(slack_api: FakeSlackApi, emu: EmulatorProcess, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with slack_bot(
        emu,
        tmp_path,
        slack_api,
        azure_static_token="emulator-token-not-secret",
        deploy_poll_interval=0.2,
        roles=Roles(approvers=[APPROVER], operators=[APPROVER]),
    ) as running:
        yield running


async def say(bot: RunningBot, slack: FakeSlackApi, text: str, user: str = USER) -> Any:
    """Run a command; the one message it produced (posted or ephemeral)."""
    kinds = ("chat.postMessage", "chat.postEphemeral")
    before = len([c for c in slack.calls if c.method in kinds])
    async with aiohttp.ClientSession() as http:
        assert await slash(http, bot.url, text, user) == 200
    await bot.adapters["slack"].drain()
    calls = [c for c in slack.calls if c.method in kinds]
    assert len(calls) == before + 1, [c.method for c in calls[before:]]
    return calls[-1]


async def deploy_and_approve(
    bot: RunningBot, slack: FakeSlackApi, emu: EmulatorProcess, job: str, name: str
) -> None:
    card = await say(bot, slack, f"deploy {job} --name {name}")
    action_id, value = button(card.args["blocks"], "Approve")
    ref = await bot.store.find_message(f"approval:{value.split(chr(34))[3]}", f"slack:{CHANNEL}")
    assert ref is not None
    async with aiohttp.ClientSession() as http:
        assert await click(http, bot.url, action_id, value, ref.message_id, APPROVER, "grace") == 200
    await bot.adapters["slack"].drain()
    await emu.advance(600)

    async def done() -> bool:
        return any(f"Deployed {name}" in text_of(c.args["blocks"]) for c in slack.called("chat.update"))

    await until(done)


async def test_checks_before_asking(bot: RunningBot, slack_api: FakeSlackApi, emu: EmulatorProcess) -> None:
    job = await emu.succeeded_job()
    refused = {
        f"deploy {job} --name bad/name": "deployment name",
        f"deploy {job} --sku premium": "premium",
        "deploy gpt-4o-mini-2024-07-18.ft-nope": "No deployable model",
    }
    for text, words in refused.items():
        answer = await say(bot, slack_api, text)
        assert words in text_of(answer.args["blocks"]), (text, answer.args)
    unsafe = await emu.succeeded_job(dataset="rai_eval_failure")
    answer = await say(bot, slack_api, f"deploy {unsafe}")
    assert "safety evaluation" in text_of(answer.args["blocks"])
    assert answer.method == "chat.postEphemeral"

    first = await say(bot, slack_api, f"deploy {job} --name first")
    assert "deploy.approve" in text_of(first.args["blocks"])
    again = await say(bot, slack_api, f"deploy {job} --name second")
    assert "already has a deployment request" in text_of(again.args["blocks"])
    assert await emu.puts() == 0


async def test_deployments_undeploy_cleanup_and_audit(
    bot: RunningBot, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    job = await emu.succeeded_job()
    await deploy_and_approve(bot, slack_api, emu, job, "kept")
    listed = text_of((await say(bot, slack_api, "deployments")).args["blocks"])
    assert "kept" in listed and "grace" in listed

    again = await say(bot, slack_api, f"deploy {job} --name twin")
    assert "already deployed as" in text_of(again.args["blocks"])
    # A checkpoint of the same job under the name the final model took: what it serves, and a way out.
    points = [c async for c in bot.ctx.azure.data().checkpoints(job, limit=10)]
    earlier = next(
        c
        for c in points
        if c.step_number and c.fine_tuned_model_checkpoint and ":ckpt-step-" in c.fine_tuned_model_checkpoint
    )
    taken = text_of((await say(bot, slack_api, f"deploy {earlier.id} --name kept")).args["blocks"])
    assert "A deployment called `kept` already exists" in taken and "(it serves `" in taken
    assert f"--name kept-step{earlier.step_number}`" in taken and "`undeploy kept`" in taken

    # A non-operator who did not ask for it may not delete it; the requester may.
    answer = await say(bot, slack_api, "undeploy kept --yes", "U0STRANGER1")
    assert "may not" in text_of(answer.args["blocks"])
    confirm = await say(bot, slack_api, "undeploy kept")
    assert "Delete deployment" in text_of(confirm.args["blocks"])

    # cleanup refuses to delete the model while the deployment is still there, then finishes.
    first = await say(bot, slack_api, f"cleanup {job} --yes", APPROVER)
    assert "still deployed" in text_of(first.args["blocks"])
    await emu.advance(120)
    second = await say(bot, slack_api, f"cleanup {job} --yes", APPROVER)
    shown = text_of(second.args["blocks"])
    assert "deleted the job and its model" in shown and "deleted file" in shown
    assert (await emu.deployments()) == {}

    audit = text_of((await say(bot, slack_api, "audit --deployment kept")).args["blocks"])
    for action in ("deploy.request", "deploy.approve", "deploy.result", "deploy.delete"):
        assert action in audit, action


async def test_deploy_button_on_the_checkpoints_card_opens_a_request(
    bot: RunningBot, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    job = await emu.succeeded_job()
    # Started from this channel by USER (as `start` records it), so USER may see its checkpoints here.
    home = Conversation("slack", CHANNEL, reference={"channel": CHANNEL})
    await bot.store.record_job(job, resource="default", home=home, user=User(USER), model=None, status=None)
    card = await say(bot, slack_api, f"checkpoints {job}")
    blocks = card.args["blocks"]
    labels = [e["text"]["text"] for b in blocks if b.get("type") == "actions" for e in b["elements"]]
    labels = [label for label in labels if label.startswith("Deploy step")]  # and a Chart button
    assert len(labels) == 3
    action_id, value = button(blocks, labels[0])
    async with aiohttp.ClientSession() as http:
        assert await click(http, bot.url, action_id, value, "1700000000.000001", USER, "ada") == 200
    await bot.adapters["slack"].drain()
    request = slack_api.called("chat.postMessage")[-1]
    shown = text_of(request.args["blocks"])
    assert "checkpoint at step" in shown and "deploy.approve" in shown
