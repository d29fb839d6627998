"""Who may do what, through the whole bot (`start_bot`: real Bolt app, real handlers, SQLite, the emulator as
Azure) driven by signed Slack requests from several users; only the Slack Web API is a stand-in.

Each refusal is checked for what the user is told (privately), the audit entry the dispatcher wrote, and that
nothing happened in Azure."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import RunningBot, start_bot
from bot.azure.models import JobStatus
from bot.model import Conversation, User
from cards.jobs import CANCEL
from cards.payload import pack_slack
from emulator import datasets
from tests.conftest import bot_settings
from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN, slack_bot
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.signing import SIGNING_SECRET, form_body, interactive_body, signed_headers

STARTER = payloads.USER  # started the job, in payloads.CHANNEL
OTHER = "U0OTHER001"  # allowed in the workspace, holds no role
OPERATOR = "U0OPER0001"
GROUP = "S0OPS00001"  # a user group listed as operators
GROUP_MEMBER = "U0GROUP001"
ELSEWHERE = "C0ELSE0001"  # another channel of the workspace
MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
async def bot(slack_api: FakeSlackApi, emulator: Any, tmp_path: Path) -> AsyncIterator[RunningBot]:
    slack_api.usergroups[GROUP] = [GROUP_MEMBER]
    async with slack_bot(emulator, tmp_path, slack_api, roles={"operators": [OPERATOR, GROUP]}) as running:
        yield running


async def _post(bot: RunningBot, body: str, content_type: str) -> int:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{bot.url}/slack/events", data=body.encode(), headers=signed_headers(body, content_type)
        )
        status = resp.status
    await bot.adapters["slack"].drain()
    return status


async def slash(bot: RunningBot, text: str, *, user: str = STARTER, channel: str = payloads.CHANNEL) -> int:
    fields = payloads.slash_command(text, channel=channel)
    fields["user_id"] = user
    return await _post(bot, *form_body(fields))


async def click(bot: RunningBot, action: str, job_id: str, *, user: str) -> int:
    packed = pack_slack(action, {"job": job_id})
    payload = payloads.block_actions(packed.action_id, packed.value, message_ts="1700000000.000001")
    payload["user"]["id"] = user
    return await _post(bot, *interactive_body(payload))


async def running_job(bot: RunningBot, emulator: Any, *, started_by: str | None = STARTER) -> str:
    """A job (running, or queued behind another); recorded as `start` records it (home channel, starter)
    unless `started_by` is None."""
    client = bot.ctx.azure.data()
    train = await client.upload_file(datasets.path("good_training"))
    emulator.advance(60)
    job = await client.create_job(MODEL, train.id)
    emulator.advance(200)
    if started_by is not None:
        home = Conversation("slack", payloads.CHANNEL)
        await bot.store.record_job(
            job.id, resource="default", home=home, user=User(started_by), model=MODEL, status=None
        )
    return str(job.id)


def private_to(slack: FakeSlackApi, user: str) -> str:
    """Everything posted privately to `user` (ephemeral), as one text to search."""
    return json.dumps([c.args for c in slack.called("chat.postEphemeral") if c.args.get("user") == user])


def public_posts(slack: FakeSlackApi) -> list[dict[str, Any]]:
    return [c.args for c in slack.called("chat.postMessage")] + [c.args for c in slack.called("chat.update")]


async def refusals(bot: RunningBot, subject: str) -> list[tuple[str, str]]:
    return [
        (e.action, e.actor) for e in await bot.store.audit_trail(subject) if e.action.endswith(".refused")
    ]


async def test_someone_else_cannot_cancel_a_job_by_command_or_button(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    job_id = await running_job(bot, emulator)
    assert (await bot.ctx.azure.data().get_job(job_id)).status == JobStatus.RUNNING

    assert await slash(bot, f"cancel {job_id} --yes", user=OTHER) == 200
    assert await slash(bot, f"pause {job_id}", user=OTHER) == 200
    assert await slash(bot, f"cancel {job_id}", user=OTHER) == 200  # not even the confirmation
    assert await click(bot, CANCEL, job_id, user=OTHER) == 200

    told = [c.args for c in slack_api.called("chat.postEphemeral") if c.args["user"] == OTHER]
    assert len(told) == 4
    assert all("only the person who started this job or an operator may change it" in t["text"] for t in told)
    assert public_posts(slack_api) == [], "a refusal is private and replaces no card"
    assert await refusals(bot, job_id) == [("job.manage.refused", OTHER)] * 4
    assert emulator.state.counters["jobs.cancel"] == 0
    assert (await bot.ctx.azure.data().get_job(job_id)).status == JobStatus.RUNNING


async def test_the_starter_and_operators_may_change_it(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    job_id = await running_job(bot, emulator)
    assert await slash(bot, f"pause {job_id}") == 200  # the starter
    emulator.advance(30)
    assert await slash(bot, f"resume {job_id}", user=GROUP_MEMBER) == 200  # an operator through the group
    assert await click(bot, CANCEL, job_id, user=OPERATOR) == 200

    trail = [(e.action, e.actor) for e in await bot.store.audit_trail(job_id)]
    assert trail == [("job.pause", STARTER), ("job.resume", GROUP_MEMBER), ("job.cancel", OPERATOR)]
    assert slack_api.called("chat.postEphemeral") == []
    assert len(slack_api.called("usergroups.users.list")) == 1, "group members are cached"


async def test_a_job_not_started_from_chat_is_for_operators_only(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    job_id = await running_job(bot, emulator, started_by=None)
    assert await slash(bot, f"status {job_id}", user=OTHER) == 200
    assert await slash(bot, f"cancel {job_id} --yes", user=OTHER) == 200
    assert "not started in this conversation" in private_to(slack_api, OTHER)
    assert await refusals(bot, job_id) == [("job.view.refused", OTHER), ("job.manage.refused", OTHER)]

    assert await slash(bot, f"status {job_id}", user=OPERATOR) == 200
    (card,) = slack_api.called("chat.postMessage")
    assert job_id in json.dumps(card.args["blocks"])
    assert emulator.state.counters["jobs.cancel"] == 0


async def test_jobs_of_another_conversation(bot: RunningBot, slack_api: FakeSlackApi, emulator: Any) -> None:
    job_id = await running_job(bot, emulator)
    # Anybody in the job's own channel sees it.
    assert await slash(bot, f"events {job_id}", user=OTHER) == 200
    # Elsewhere: its starter does, somebody else does not.
    assert await slash(bot, f"status {job_id}", channel=ELSEWHERE) == 200
    assert await slash(bot, f"checkpoints {job_id}", user=OTHER, channel=ELSEWHERE) == 200
    posted = [json.dumps(c.args["blocks"]) for c in slack_api.called("chat.postMessage")]
    assert len(posted) == 2 and all(job_id in p for p in posted)
    assert "only the person who started it and operators may see it here" in private_to(slack_api, OTHER)
    assert await refusals(bot, job_id) == [("job.view.refused", OTHER)]


async def test_an_unknown_job_is_still_not_found(bot: RunningBot, slack_api: FakeSlackApi) -> None:
    unknown = "ftjob-" + "0" * 32
    assert await slash(bot, f"status {unknown}", user=OTHER) == 200
    assert "not found" in private_to(slack_api, OTHER).lower()
    assert await refusals(bot, unknown) == []


async def test_list_shows_this_conversation_and_all_only_for_operators(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    here = await running_job(bot, emulator)
    outside = await running_job(bot, emulator, started_by=None)

    assert await slash(bot, "list", user=OTHER) == 200
    (listed,) = [json.dumps(c.args["blocks"]) for c in slack_api.called("chat.postMessage")]
    assert here in listed and outside not in listed
    assert "running" in listed.lower(), "the status is Azure's, now"

    assert await slash(bot, "list", user=OTHER, channel=ELSEWHERE) == 200
    assert here not in json.dumps(slack_api.called("chat.postMessage")[-1].args["blocks"])

    assert await slash(bot, "list --all", user=OTHER) == 200
    assert "only operators may do that" in private_to(slack_api, OTHER)
    assert await refusals(bot, "default") == [("job.list_all.refused", OTHER)]

    assert await slash(bot, "list --all", user=OPERATOR) == 200
    every = json.dumps(slack_api.called("chat.postMessage")[-1].args["blocks"])
    assert here in every and outside in every


async def test_only_starters_may_start_when_starters_are_set(
    slack_api: FakeSlackApi, emulator: Any, tmp_path: Path
) -> None:
    settings = bot_settings(
        emulator,
        tmp_path,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack_api.api_url,
        roles={"operators": [OPERATOR], "starters": [STARTER]},
    )
    slack_api.share_file("F0GOOD0001", "train.jsonl", datasets.path("good_training").read_bytes(), user=OTHER)
    bot = await start_bot(settings)
    try:
        assert await slash(bot, f"start {MODEL} --training F0GOOD0001", user=OTHER) == 200
        assert "only the configured starters (or operators) may do that here" in private_to(slack_api, OTHER)
        assert await refusals(bot, "default") == [("job.start.refused", OTHER)]
        assert slack_api.called("files.info") == [] and slack_api.called("download") == []
        assert emulator.state.counters["files.upload"] == 0 and emulator.state.counters["jobs.create"] == 0
    finally:
        await bot.close()
