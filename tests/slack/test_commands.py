"""`/ft ...` slash commands: acknowledged at once, dispatched after, answered in the channel."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN, SlackHarness
from tests.slack.fake_slack_api import TEAM_ID


async def test_ack_returns_before_the_handler_finishes(harness: SlackHarness) -> None:
    resp = await harness.command("slow")
    # The HTTP answer is back while the handler is still blocked on a gate only this test opens.
    assert resp.status == 200
    assert await resp.text() == ""
    assert not harness.handled.gate.is_set()
    await harness.handled.gate_reached.wait()
    assert harness.slack.called("chat.postMessage") == []
    harness.handled.gate.set()
    (post,) = await harness.slack.wait_for("chat.postMessage")
    assert post.args["channel"] == payloads.CHANNEL
    assert post.args["text"] == "Done waiting"


async def test_status_posts_the_card_and_records_it(harness: SlackHarness) -> None:
    resp = await harness.command("status ftjob-abc123")
    assert resp.status == 200
    (post,) = await harness.slack.wait_for("chat.postMessage")
    await harness.adapter.drain()
    assert post.authorization == f"Bearer {BOT_TOKEN}"
    assert post.args["channel"] == payloads.CHANNEL
    assert "thread_ts" not in post.args
    assert post.args["blocks"][0]["type"] == "header"
    action_ids = [
        e["action_id"] for b in post.args["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert "ft1:job.refresh" in action_ids

    (cmd,) = harness.handled.commands
    assert (cmd.verb, cmd.args, cmd.platform) == ("status", ("ftjob-abc123",), "slack")
    assert cmd.user.id == payloads.USER and cmd.user.name == "ada"
    assert cmd.conversation.reference == {"channel": payloads.CHANNEL, "team": TEAM_ID}
    assert cmd.conversation.kind == "channel"
    assert "token" not in cmd.raw  # the legacy verification token is not kept

    conversation = await harness.store.get_conversation(f"slack:{payloads.CHANNEL}")
    assert conversation is not None and conversation.reference == {
        "channel": payloads.CHANNEL,
        "team": TEAM_ID,
    }
    ref = await harness.store.find_message("job:ftjob-abc123", f"slack:{payloads.CHANNEL}")
    assert ref is not None and ref.message_id == post.args.get("ts", ref.message_id)
    assert ref.conversation_id == payloads.CHANNEL


async def test_unknown_verb_gets_a_usage_card_only_the_user_sees(harness: SlackHarness) -> None:
    await harness.command("nonsense")
    (ephemeral,) = await harness.slack.wait_for("chat.postEphemeral")
    assert ephemeral.args["user"] == payloads.USER
    assert ephemeral.args["channel"] == payloads.CHANNEL
    assert "nonsense" in str(ephemeral.args["blocks"])
    await harness.adapter.drain()
    assert harness.slack.called("chat.postMessage") == []


@pytest.mark.parametrize("text", ['status "ftjob-abc', "status ftjob-abc --limit", "x" * 5000])
async def test_unparseable_text_gets_an_ephemeral_usage_card_not_a_trace(
    harness: SlackHarness, text: str
) -> None:
    await harness.command(text)
    (ephemeral,) = await harness.slack.wait_for("chat.postEphemeral")
    assert "Traceback" not in str(ephemeral.args["blocks"])
    await harness.adapter.drain()
    assert harness.handled.commands == []


async def test_empty_command_is_help(harness: SlackHarness) -> None:
    await harness.command("")
    await harness.adapter.drain()
    # `help` is not registered in the test router: the dispatcher answers with its usage card.
    assert harness.slack.called("chat.postEphemeral")


async def test_ephemeral_reply_goes_to_the_user_only(harness: SlackHarness) -> None:
    await harness.command("whisper")
    (ephemeral,) = await harness.slack.wait_for("chat.postEphemeral")
    assert ephemeral.args["text"] == "Just for you"
    assert ephemeral.args["user"] == payloads.USER


async def test_handler_failure_gives_an_error_card(harness: SlackHarness) -> None:
    await harness.command("boom")
    (post,) = await harness.slack.wait_for("chat.postMessage")
    assert "Traceback" not in str(post.args["blocks"])
    assert "handler exploded" not in str(post.args["blocks"])  # internal details stay in the log


async def test_not_in_channel_falls_back_to_the_response_url(
    harness: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    harness.slack.fail_next("chat.postMessage", "not_in_channel")
    await harness.command("status ftjob-abc")
    (answer,) = await harness.slack.wait_for("response_url")
    assert answer.args["response_type"] == "in_channel"
    assert answer.args["text"].startswith("Job ftjob-abc")
    assert "not_in_channel" in caplog.text
    assert BOT_TOKEN not in caplog.text


async def test_web_api_error_without_fallback_is_logged_not_raised(
    harness: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    harness.slack.fail_next("chat.postMessage", "not_in_channel")
    await harness.command("status ftjob-one", response_url="")
    await harness.slack.wait_for("chat.postMessage")
    await harness.adapter.drain()
    assert "not_in_channel" in caplog.text
    assert BOT_TOKEN not in caplog.text
    # The adapter keeps working after the refusal.
    await harness.command("status ftjob-two")
    await harness.slack.wait_for("chat.postMessage", 2)


async def test_rate_limited_post_is_retried_after_retry_after(harness: SlackHarness) -> None:
    harness.slack.rate_limit_next("chat.postMessage", retry_after=0)
    await harness.command("status ftjob-abc")
    first, second = await harness.slack.wait_for("chat.postMessage", 2)
    assert first.args == second.args
    await harness.adapter.drain()
    assert await harness.store.find_message("job:ftjob-abc", f"slack:{payloads.CHANNEL}") is not None


async def test_shutdown_waits_for_work_already_acknowledged(harness: SlackHarness) -> None:
    await harness.command("slow")
    await harness.handled.gate_reached.wait()
    closing = asyncio.create_task(harness.adapter.drain())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not closing.done()  # the handler is still held by the gate
    harness.handled.gate.set()
    await closing
    assert len(harness.slack.called("chat.postMessage")) == 1
