"""`block_actions`: our buttons become neutral Actions; `replace_source` updates the clicked message in place."""

from __future__ import annotations

import json

from bot.model import MessageRef
from cards.payload import pack_slack
from tests.slack import payloads
from tests.slack.conftest import SlackHarness

SOURCE_TS = "1700000000.000042"


async def test_refresh_click_dispatches_an_action_and_updates_the_message(harness: SlackHarness) -> None:
    packed = pack_slack("job.refresh", {"job": "ftjob-abc"})
    resp = await harness.click(packed.action_id, packed.value, message_ts=SOURCE_TS)
    assert resp.status == 200
    (update,) = await harness.slack.wait_for("chat.update")
    assert update.args["channel"] == payloads.CHANNEL
    assert update.args["ts"] == SOURCE_TS
    assert "succeeded" in json.dumps(update.args["blocks"])
    await harness.adapter.drain()

    (action,) = harness.handled.actions
    assert action.action == "job.refresh"
    assert action.payload == {"job": "ftjob-abc"}
    assert action.platform == "slack"
    assert action.user.id == payloads.USER
    assert action.message == MessageRef("slack", payloads.CHANNEL, SOURCE_TS)
    assert action.conversation.reference == {"channel": payloads.CHANNEL, "team": "T0TEAM001"}
    assert harness.slack.called("chat.postMessage") == []
    # The updated card is keyed: it is remembered against the clicked message.
    ref = await harness.store.find_message("job:ftjob-abc", f"slack:{payloads.CHANNEL}")
    assert ref is not None and ref.message_id == SOURCE_TS


async def test_buttons_with_a_discriminator_are_read(harness: SlackHarness) -> None:
    packed = pack_slack("job.refresh", {"job": "ftjob-two"}, discriminator="1")
    await harness.click(packed.action_id, packed.value, message_ts=SOURCE_TS)
    await harness.slack.wait_for("chat.update")
    await harness.adapter.drain()
    assert harness.handled.actions[0].payload == {"job": "ftjob-two"}


async def test_in_thread_reply_to_a_click_hangs_under_the_card(harness: SlackHarness) -> None:
    packed = pack_slack("job.cancel", {"job": "ftjob-abc"})
    await harness.click(packed.action_id, packed.value, message_ts=SOURCE_TS)
    (post,) = await harness.slack.wait_for("chat.postMessage")
    assert post.args["thread_ts"] == SOURCE_TS
    assert post.args["channel"] == payloads.CHANNEL


async def test_click_on_an_ephemeral_card_replaces_it_through_the_response_url(harness: SlackHarness) -> None:
    packed = pack_slack("job.refresh", {"job": "ftjob-abc"})
    await harness.click(packed.action_id, packed.value, message_ts=SOURCE_TS, ephemeral=True)
    (answer,) = await harness.slack.wait_for("response_url")
    assert answer.args["replace_original"] is True
    await harness.adapter.drain()
    assert harness.slack.called("chat.update") == []


async def test_link_and_foreign_buttons_are_acknowledged_and_ignored(harness: SlackHarness) -> None:
    for action_id, value in [
        ("link:2", ""),  # our link button: Slack still sends block_actions
        ("other_app_button", "x"),
        ("ft1:job.refresh", "{not json"),
        ("ft1:job.refresh", json.dumps({"job": 5})),
    ]:
        resp = await harness.click(action_id, value, message_ts=SOURCE_TS)
        assert resp.status == 200
    await harness.adapter.drain()
    assert harness.handled.actions == []
    assert harness.slack.messages() == []


async def test_unknown_action_gets_an_error_card_not_a_crash(harness: SlackHarness) -> None:
    packed = pack_slack("job.retired", {"job": "ftjob-abc"})
    await harness.click(packed.action_id, packed.value, message_ts=SOURCE_TS)
    (post,) = await harness.slack.wait_for("chat.postMessage")
    assert "no longer supported" in json.dumps(post.args["blocks"])


async def test_click_in_a_channel_the_bot_cannot_post_to_updates_through_the_response_url(
    harness: SlackHarness,
) -> None:
    # The card came through a slash command's response_url (a DM between two people, a private channel):
    # chat.update answers channel_not_found; the click's own response_url still replaces the card.
    harness.slack.fail_next("chat.update", "channel_not_found")
    packed = pack_slack("job.refresh", {"job": "ftjob-abc"})
    await harness.click(packed.action_id, packed.value, message_ts=SOURCE_TS)
    (answer,) = await harness.slack.wait_for("response_url")
    assert answer.args.get("replace_original") is True
    assert "succeeded" in json.dumps(answer.args["blocks"])
    await harness.adapter.drain()
