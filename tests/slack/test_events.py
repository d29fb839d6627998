"""Events API: `@ftbot ...` mentions (with shared files), direct messages, retries, the bot's own messages."""

from __future__ import annotations

import json

from tests.slack import payloads
from tests.slack.conftest import SlackHarness
from tests.slack.fake_slack_api import BOT_ID, BOT_USER_ID
from tests.slack.signing import json_body


async def test_mention_becomes_a_command_with_the_mention_stripped(harness: SlackHarness) -> None:
    resp = await harness.event(payloads.app_mention(f"<@{BOT_USER_ID}> status ftjob-abc"))
    assert resp.status == 200
    (post,) = await harness.slack.wait_for("chat.postMessage")
    await harness.adapter.drain()
    (cmd,) = harness.handled.commands
    assert (cmd.verb, cmd.args, cmd.text) == ("status", ("ftjob-abc",), "status ftjob-abc")
    assert cmd.conversation.reference == {"channel": payloads.CHANNEL, "team": "T0TEAM001"}
    assert "thread_ts" not in post.args  # a mention in the channel is answered in the channel


async def test_mention_with_a_file_carries_it_as_an_attachment(harness: SlackHarness) -> None:
    shared = payloads.slack_file("F0FILE0001", "train.jsonl", harness.slack.url, size=2048)
    await harness.event(payloads.app_mention(f"<@{BOT_USER_ID}> files", files=[shared]))
    await harness.slack.wait_for("chat.postMessage")
    await harness.adapter.drain()
    (cmd,) = harness.handled.commands
    (attachment,) = cmd.attachments
    assert attachment.name == "train.jsonl"
    assert attachment.platform_id == "F0FILE0001"
    assert attachment.size == 2048
    assert attachment.content_type == "application/jsonl"
    assert attachment.url == shared["url_private_download"]


async def test_in_thread_reply_to_a_mention_hangs_under_it(harness: SlackHarness) -> None:
    mention = payloads.app_mention(f"<@{BOT_USER_ID}> thread", ts="1700000500.000001")
    await harness.event(mention)
    (post,) = await harness.slack.wait_for("chat.postMessage")
    assert post.args["thread_ts"] == "1700000500.000001"


async def test_mention_inside_a_thread_is_answered_in_that_thread(harness: SlackHarness) -> None:
    mention = payloads.app_mention(f"<@{BOT_USER_ID}> status ftjob-abc", ts="1700000600.000002")
    mention["thread_ts"] = "1700000100.000001"
    await harness.event(mention)
    (post,) = await harness.slack.wait_for("chat.postMessage")
    assert post.args["thread_ts"] == "1700000100.000001"


async def test_retried_delivery_is_handled_once(harness: SlackHarness) -> None:
    mention = payloads.app_mention(f"<@{BOT_USER_ID}> status ftjob-abc")
    first = await harness.event(mention, event_id="Ev0SAME0001")
    retry = await harness.event(mention, event_id="Ev0SAME0001", retry=1)
    assert first.status == retry.status == 200
    await harness.adapter.drain()
    await harness.event(mention, event_id="Ev0OTHER001")  # a new event is handled again
    await harness.slack.wait_for("chat.postMessage", 2)
    await harness.adapter.drain()
    assert len(harness.handled.commands) == 2
    assert len(harness.slack.called("chat.postMessage")) == 2


async def test_direct_message_is_a_command_without_a_mention(harness: SlackHarness) -> None:
    await harness.event(payloads.direct_message("status ftjob-dm"), event_id="Ev0DM000001")
    (post,) = await harness.slack.wait_for("chat.postMessage")
    assert post.args["channel"] == "D0DIRECT01"
    await harness.adapter.drain()
    (cmd,) = harness.handled.commands
    assert cmd.conversation.kind == "personal"


async def test_bot_messages_are_ignored(harness: SlackHarness) -> None:
    other_bot = payloads.direct_message("status ftjob-x", bot=True)
    ours = payloads.direct_message("status ftjob-y")
    ours.update({"bot_id": BOT_ID, "user": BOT_USER_ID})
    await harness.event(other_bot, event_id="Ev0BOT00001")
    await harness.event(ours, event_id="Ev0BOT00002")
    channel_message = payloads.direct_message("status ftjob-z")
    channel_message.update({"channel": payloads.CHANNEL, "channel_type": "channel"})
    await harness.event(channel_message, event_id="Ev0CHAN0001")  # channels: only mentions are for the bot
    edit = payloads.direct_message("status ftjob-w")
    edit["subtype"] = "message_changed"
    await harness.event(edit, event_id="Ev0EDIT0001")
    await harness.adapter.drain()
    assert harness.handled.commands == []
    assert harness.slack.messages() == []


async def test_url_verification_is_answered(harness: SlackHarness) -> None:
    body, content_type = json_body(
        {
            "token": "t",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    resp = await harness.send(body, content_type)
    assert resp.status == 200
    assert json.loads(await resp.text())["challenge"].startswith("3eZbrw")
