"""Acceptance (issue 11), Slack: the whole bot (real Bolt over HTTP, real handlers, SQLite file) against the
emulator in its own process; only the Slack Web API is a stand-in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from bot.app import RunningBot, start_bot
from bot.config import Roles
from tests.conftest import bot_settings
from tests.deploy.support import EmulatorProcess, button, click, slash, text_of, until
from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN, assert_all_valid
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.payloads import CHANNEL, USER
from tests.slack.signing import SIGNING_SECRET, form_body, signed_headers

APPROVER = "U0APPROVER1"
STRANGER = "U0STRANGER1"
BotFactory = Callable[..., Any]


@pytest.fixture
def make_bot(slack_api: FakeSlackApi, emu: EmulatorProcess, tmp_path: Path) -> BotFactory:
    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[RunningBot]:
        values: dict[str, Any] = {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": slack_api.api_url,
            "azure_static_token": "emulator-token-not-secret",
            "deploy_poll_interval": 0.2,
            "roles": Roles(approvers=[APPROVER]),
        }
        values.update(overrides)
        running = await start_bot(bot_settings(emu, tmp_path, **values))
        try:
            yield running
        finally:
            await running.close()
        assert_all_valid(slack_api)

    return make


async def request(bot: RunningBot, slack: FakeSlackApi, emu: EmulatorProcess) -> Posted:
    """`/ft deploy <job>` by the requester: the approval card as posted, and where."""
    job = await emu.succeeded_job()
    posted = len(slack.called("chat.postMessage"))
    async with aiohttp.ClientSession() as http:
        assert await slash(http, bot.url, f"deploy {job} --name ada-model") == 200
    calls = await slack.wait_for("chat.postMessage", posted + 1)
    blocks = calls[-1].args["blocks"]
    action_id, value = button(blocks, "Approve")
    approval_id = json.loads(value)["id"]
    ref = None
    async with asyncio.timeout(5):
        while ref is None:
            ref = await bot.store.find_message(f"approval:{approval_id}", f"slack:{CHANNEL}")
            await asyncio.sleep(0.02)
    return Posted(approval_id, ref.message_id, action_id, value, blocks, job)


@dataclass
class Posted:
    id: str
    ts: str
    approve_id: str
    value: str
    blocks: Any
    job: str


async def press(
    bot: RunningBot, posted: Posted, user: str, name: str = "someone", label: str = "Approve"
) -> None:
    action_id, value = (
        (posted.approve_id, posted.value) if label == "Approve" else button(posted.blocks, label)
    )
    async with aiohttp.ClientSession() as http:
        assert await click(http, bot.url, action_id, value, posted.ts, user, name) == 200
    await bot.adapters["slack"].drain()


def updates(slack: FakeSlackApi) -> list[str]:
    return [text_of(c.args.get("blocks")) for c in slack.called("chat.update")]


async def test_an_approver_approves_and_the_card_reads_deployed(
    make_bot: BotFactory, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    async with make_bot() as bot:
        posted = await request(bot, slack_api, emu)
        card = text_of(posted.blocks)
        for words in (
            "Asked by",
            "ada",
            "gpt-4o-mini-2024-07-18.ft-",
            "1.70 USD/hour",
            "15 days",
            "Subscription",
        ):
            assert words in card, words
        await press(bot, posted, APPROVER, "grace")
        assert await emu.puts() == 1
        assert "Approved by grace" in updates(slack_api)[-1]
        await emu.advance(600)
        await until(lambda: _deployed(slack_api))
        deployments = await emu.deployments()
        assert list(deployments) == ["ada-model"] and deployments["ada-model"] == "Succeeded"
        final = updates(slack_api)[-1]
        assert "/openai/deployments/ada-model/chat/completions" in final and "deploy.approve" not in final
        assert await emu.puts() == 1
        trail = audit_actions(await bot.store.recent_audit(20, "ada-model"))
        assert trail[:3] == ["deploy.result", "deploy.approve", "deploy.request"]


async def _deployed(slack: FakeSlackApi) -> bool:
    return any("Deployed ada-model" in u for u in updates(slack))


async def test_requester_and_non_approver_are_refused_privately_and_audited(
    make_bot: BotFactory, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    async with make_bot() as bot:
        posted = await request(bot, slack_api, emu)
        await press(bot, posted, USER, "ada")
        await press(bot, posted, STRANGER, "mallory")
        refusals = [c.args for c in slack_api.called("chat.postEphemeral")]
        assert [r["user"] for r in refusals] == [USER, STRANGER]
        assert "someone else" in text_of(refusals[0]["blocks"])
        assert "approvers" in text_of(refusals[1]["blocks"])
        assert slack_api.called("chat.update") == []  # the card is unchanged
        assert await emu.puts() == 0
        entries = await bot.store.recent_audit(10, "ada-model")
        refused = [(e.actor, e.action) for e in entries if e.action == "deploy.approve.refused"]
        assert sorted(refused) == sorted(
            [(USER, "deploy.approve.refused"), (STRANGER, "deploy.approve.refused")]
        )


async def test_reject_records_the_reason(
    make_bot: BotFactory, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    async with make_bot() as bot:
        posted = await request(bot, slack_api, emu)
        async with aiohttp.ClientSession() as http:
            assert (
                await slash(http, bot.url, f'reject {posted.id} --reason "not before the release"', APPROVER)
                == 200
            )
        await bot.adapters["slack"].drain()
        await until(lambda: _has_update(slack_api, "not before the release"))
        entry = next(e for e in await bot.store.recent_audit(10, "ada-model") if e.action == "deploy.reject")
        assert entry.actor == APPROVER and entry.detail["reason"] == "not before the release"
        await press(bot, posted, APPROVER, "grace")  # too late: decided
        assert await emu.puts() == 0


async def _has_update(slack: FakeSlackApi, words: str) -> bool:
    return any(words in u for u in updates(slack))


async def test_an_expired_request_cannot_be_approved(
    make_bot: BotFactory, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    async with make_bot(approval_ttl=0.5) as bot:
        posted = await request(bot, slack_api, emu)
        await until(lambda: _has_update(slack_api, "expired"))
        assert "Ask again" in updates(slack_api)[-1]
        await press(bot, posted, APPROVER, "grace")
        assert "expired" in text_of(slack_api.called("chat.postEphemeral")[-1].args["blocks"])
        assert await emu.puts() == 0
        assert "deploy.expired" in audit_actions(await bot.store.recent_audit(10, "ada-model"))
        # Ask again posts a fresh request (checked again), which can then be approved.
        expired_blocks = slack_api.called("chat.update")[-1].args["blocks"]
        again_id, again_value = button(expired_blocks, "Ask again")
        posts = len(slack_api.called("chat.postMessage"))
        async with aiohttp.ClientSession() as http:
            assert await click(http, bot.url, again_id, again_value, posted.ts, USER, "ada") == 200
        await bot.adapters["slack"].drain()
        fresh = slack_api.called("chat.postMessage")
        assert len(fresh) == posts + 1 and "deploy.approve" in text_of(fresh[-1].args["blocks"])


async def test_with_no_approvers_configured_nothing_can_be_approved(
    make_bot: BotFactory, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    async with make_bot(roles=Roles()) as bot:
        job = await emu.succeeded_job()
        async with aiohttp.ClientSession() as http:
            assert await slash(http, bot.url, f"deploy {job} --name ada-model") == 200
        (post,) = await slack_api.wait_for("chat.postMessage")
        card = text_of(post.args["blocks"])
        assert "nobody can approve" in card and "Approve" not in card
        approval_id = next(iter(await _approval_ids(bot)))
        value = json.dumps({"id": approval_id}, separators=(",", ":"))
        async with aiohttp.ClientSession() as http:
            for user in (APPROVER, STRANGER):
                assert (
                    await click(http, bot.url, "ft1:deploy.approve", value, "1700000000.000001", user) == 200
                )
        await bot.adapters["slack"].drain()
        assert len(slack_api.called("chat.postEphemeral")) == 2
        assert await emu.puts() == 0


async def _approval_ids(bot: RunningBot) -> list[str]:
    from sqlalchemy import select

    from bot.schema import approvals

    async with bot.store.engine.connect() as conn:
        return [r[0] for r in (await conn.execute(select(approvals.c.id))).all()]


def audit_actions(entries: list[Any]) -> list[str]:
    return [e.action for e in entries]


async def test_two_required_approvals_need_two_distinct_approvers(
    make_bot: BotFactory, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    async with make_bot(roles=Roles(approvers=[APPROVER, "U0APPROVER2"], required_approvals=2)) as bot:
        posted = await request(bot, slack_api, emu)
        await press(bot, posted, APPROVER, "grace")
        await press(bot, posted, APPROVER, "grace")  # the same approver twice is one approval
        assert await emu.puts() == 0
        assert "Approvals: 1 of 2 (grace)" in updates(slack_api)[-1]
        await press(bot, posted, "U0APPROVER2", "linus")
        assert await emu.puts() == 1
        assert "Approved by grace, linus" in updates(slack_api)[-1]


async def test_approval_rechecks_and_fails_with_the_reason(
    make_bot: BotFactory, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    async with make_bot() as bot:
        posted = await request(bot, slack_api, emu)
        # Someone takes the name in Azure while the request waits.
        path = (
            f"{emu.url}/subscriptions/{emu.subscription_id}/resourceGroups/{emu.resource_group}"
            f"/providers/Microsoft.CognitiveServices/accounts/{emu.account_name}/deployments/ada-model"
        )
        body = {"sku": {"name": "Standard", "capacity": 1}, "properties": {"model": {"name": "gpt-4o-mini"}}}
        async with httpx.AsyncClient() as http:
            taken = await http.put(
                path, json=body, params={"api-version": "2024-10-01"}, headers={"Authorization": "Bearer x"}
            )
            assert taken.status_code == 201, taken.text
        await press(bot, posted, APPROVER, "grace")
        assert await emu.puts() == 1  # the test's own: the bot sent none
        final = updates(slack_api)[-1]
        assert "did not succeed" in final and "already exists" in final
        assert "already exists on default (it serves `gpt-4o-mini`)" in final
        result = next(e for e in await bot.store.recent_audit(10, "ada-model") if e.action == "deploy.result")
        assert result.detail["result"] == "failed"


async def test_a_slow_look_before_the_put_outlasting_the_lease_sends_one_put(
    make_bot: BotFactory, slack_api: FakeSlackApi, emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The winner's checks before its PUT take longer than the follow-up lease (a loaded box, a slow ARM):
    the sweep (here or on another replica) must not take the request over and send a PUT of its own."""
    from bot.azure.arm import ArmClient
    from handlers.deploy import follow_lease

    async with make_bot() as bot:
        posted = await request(bot, slack_api, emu)
        lease = follow_lease(bot.ctx).total_seconds()
        real = ArmClient.list_deployments
        slowed: list[bool] = []

        async def slow_once(self: ArmClient, **kwargs: Any) -> Any:
            if not slowed:
                slowed.append(True)
                await asyncio.sleep(lease + 1.0)  # several sweeps pass while the lease runs out
            return await real(self, **kwargs)

        monkeypatch.setattr(ArmClient, "list_deployments", slow_once)
        await press(bot, posted, APPROVER, "grace")
        await emu.advance(600)
        await until(lambda: _deployed(slack_api))
        assert await emu.puts() == 1


# -- approve <request> typed by an approver (issue: a second user could only approve by the card's button) --

APPROVER_DM = "D0APPROVER1"  # the approver's direct message with the bot: not where the request was posted


async def typed(bot: RunningBot, text: str, user: str, name: str, channel: str = APPROVER_DM) -> None:
    """`/ft <text>` typed by `user` in `channel` (signed, as Slack sends it), answered before this returns."""
    fields = payloads.slash_command(text, channel=channel)
    fields["user_id"], fields["user_name"] = user, name
    body, content_type = form_body(fields)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{bot.url}/slack/events", data=body.encode(), headers=signed_headers(body, content_type)
        )
        assert resp.status == 200
    await bot.adapters["slack"].drain()


def private_to(slack: FakeSlackApi, user: str) -> list[str]:
    """Every ephemeral answer `user` got, oldest first."""
    return [text_of(c.args["blocks"]) for c in slack.called("chat.postEphemeral") if c.args["user"] == user]


async def test_an_approver_approves_by_command_from_another_conversation(
    make_bot: BotFactory, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    async with make_bot() as bot:
        posted = await request(bot, slack_api, emu)
        # The pending card says how to approve without its buttons, with its request id.
        assert f"approve {posted.id}" in text_of(posted.blocks)
        await typed(bot, f"approve {posted.id}", APPROVER, "grace")
        assert await emu.puts() == 1
        # The requester's card is updated in place, in the requester's channel.
        (update,) = slack_api.called("chat.update")
        assert update.args["channel"] == CHANNEL and update.args["ts"] == posted.ts
        assert "Approved by grace" in text_of(update.args["blocks"])
        # The approver gets a card saying what happened, in their own conversation and to them only.
        (answer,) = [c.args for c in slack_api.called("chat.postEphemeral")]
        assert answer["channel"] == APPROVER_DM and answer["user"] == APPROVER
        assert "You approved deploying" in text_of(answer["blocks"]) and posted.id in text_of(
            answer["blocks"]
        )
        assert not [c for c in slack_api.called("chat.postMessage") if c.args["channel"] == APPROVER_DM]
        await emu.advance(600)
        await until(lambda: _deployed(slack_api))
        assert (await emu.deployments()) == {"ada-model": "Succeeded"}
        # A second approve (by command or button) is a no-op that says why.
        await typed(bot, f"approve {posted.id}", APPROVER, "grace")
        await press(bot, posted, APPROVER, "grace")
        again = private_to(slack_api, APPROVER)[1:]
        assert len(again) == 2 and all("already approved by grace" in a for a in again)
        assert await emu.puts() == 1
        trail = audit_actions(await bot.store.recent_audit(20, "ada-model"))
        assert trail.count("deploy.approve") == 1 and trail.count("deploy.result") == 1
        approved = next(
            e for e in await bot.store.recent_audit(20, "ada-model") if e.action == "deploy.approve"
        )
        assert approved.actor == APPROVER and approved.detail["decided"] is True


async def test_approve_by_command_is_refused_to_the_requester_and_non_approvers(
    make_bot: BotFactory, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    async with make_bot() as bot:
        posted = await request(bot, slack_api, emu)
        await typed(bot, f"approve {posted.id}", USER, "ada", channel=CHANNEL)  # four-eyes
        await typed(bot, f"approve {posted.id}", STRANGER, "mallory")
        await typed(bot, "approve 0123456789ab", APPROVER, "grace")  # no such request
        await typed(bot, "approve ftjob-123", APPROVER, "grace")  # not a request id: usage
        (own,) = private_to(slack_api, USER)
        assert "You may not approve this deployment" in own and "someone else" in own
        (stranger,) = private_to(slack_api, STRANGER)
        assert "only the configured approvers" in stranger
        missing, usage = private_to(slack_api, APPROVER)
        assert "There is no deployment request" in missing and "12 hex characters" in usage
        assert slack_api.called("chat.update") == []  # the card is unchanged
        assert await emu.puts() == 0
        refused = [
            (e.actor, e.action)
            for e in await bot.store.recent_audit(10, "ada-model")
            if e.action == "deploy.approve.refused"
        ]
        assert sorted(refused) == sorted(
            [(USER, "deploy.approve.refused"), (STRANGER, "deploy.approve.refused")]
        )
        # Still pending: the approver can approve it after all that.
        await typed(bot, f"approve {posted.id}", APPROVER, "grace")
        assert await emu.puts() == 1


async def test_a_request_asked_for_in_slack_is_not_approved_from_teams(
    make_bot: BotFactory, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    # The roles may list one person by a Slack id and an AAD id: from Teams, the requester's other identity
    # would pass four-eyes (ids are per platform), and one approver could vote twice.
    from bot.errors import NotAllowed
    from bot.model import User
    from handlers.deploy import approve_request

    roles = Roles(approvers=[APPROVER, "29:ada-in-teams"], required_approvals=1)
    async with make_bot(roles=roles) as bot:
        posted = await request(bot, slack_api, emu)
        a = await bot.store.get_approval(posted.id)
        assert a is not None and a.platform == "slack"
        with pytest.raises(NotAllowed, match="asked for in Slack: approve it there"):
            await approve_request(bot.ctx, User("29:ada-in-teams", "ada"), "teams", a, None, typed=True)
        assert await emu.puts() == 0
        refused = [
            e for e in await bot.store.recent_audit(10, "ada-model") if e.action == "deploy.approve.refused"
        ]
        assert [e.actor for e in refused] == ["29:ada-in-teams"]
        await typed(bot, f"approve {posted.id}", APPROVER, "grace")  # in Slack: approved
        assert await emu.puts() == 1


async def test_an_expired_request_cannot_be_approved_by_command(
    make_bot: BotFactory, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    async with make_bot(approval_ttl=0.5) as bot:
        posted = await request(bot, slack_api, emu)
        await until(lambda: _has_update(slack_api, "expired"))
        await typed(bot, f"approve {posted.id}", APPROVER, "grace")
        (answer,) = private_to(slack_api, APPROVER)
        assert "This request has expired" in answer
        assert await emu.puts() == 0


async def test_two_required_approvals_by_command_and_button(
    make_bot: BotFactory, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    async with make_bot(roles=Roles(approvers=[APPROVER, "U0APPROVER2"], required_approvals=2)) as bot:
        posted = await request(bot, slack_api, emu)
        await typed(bot, f"approve {posted.id}", APPROVER, "grace")
        assert await emu.puts() == 0
        assert "Approvals: 1 of 2 (grace)" in updates(slack_api)[-1]  # the requester's card, in place
        (recorded,) = private_to(slack_api, APPROVER)
        assert "1 of 2 (grace). It needs 1 more approval" in recorded
        await press(bot, posted, "U0APPROVER2", "linus")
        assert await emu.puts() == 1
        assert "Approved by grace, linus" in updates(slack_api)[-1]
