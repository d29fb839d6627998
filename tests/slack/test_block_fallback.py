"""A card whose blocks Slack refuses goes out again in plainer blocks, whichever way it is sent.

`invalid_blocks` (a workspace without the newer `table` / `data_visualization` blocks) and `msg_blocks_too_long`
(more block text than Slack takes in one message) are answered with a second try: without charts and tables,
and with less text after `msg_blocks_too_long`. This holds for `chat.postMessage`, `chat.postEphemeral`,
`chat.update` and a `response_url` alike (it was `chat.postMessage` only: the others showed nothing).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from adapters.slack_translate import Origin
from bot.model import Conversation, MessageRef, Reply, User
from cards.model import Card, Fact, Table
from cards.render_slack import render_blocks, text_size
from tests.slack import payloads
from tests.slack.conftest import SlackHarness

TABLE_CARD = Card(
    title="Checkpoints",
    text="Deploy the last one.",
    tables=(Table(("Checkpoint", "Step"), (("ftchkpt-aaa", "10"), ("ftchkpt-bbb", "20")), native=True),),
)
NATIVE = ("table", "data_visualization")


def _origin(harness: SlackHarness, **kw: object) -> Origin:
    return Origin(
        conversation=Conversation("slack", payloads.CHANNEL),
        user=User(payloads.USER),
        response_url=harness.slack.response_url("fallback"),
        **kw,  # type: ignore[arg-type]
    )


# (method the stand-in sees, the reply, extra Origin fields)
PATHS = {
    "post": ("chat.postMessage", Reply(TABLE_CARD), {}),
    "ephemeral": ("chat.postEphemeral", Reply(TABLE_CARD, ephemeral=True), {}),
    "update": (
        "chat.update",
        Reply(TABLE_CARD, update=MessageRef("slack", payloads.CHANNEL, "1.000001")),
        {},
    ),
    "response_url": (
        "response_url",
        Reply(TABLE_CARD, replace_source=True),
        {"source": MessageRef("slack", payloads.CHANNEL, "1.000002"), "source_ephemeral": True},
    ),
}


@pytest.mark.parametrize("path", PATHS)
async def test_refused_native_blocks_are_sent_again_without_them(harness: SlackHarness, path: str) -> None:
    method, reply, extra = PATHS[path]
    harness.slack.fail_next(method, "invalid_blocks")
    await harness.adapter.sender.deliver(_origin(harness, **extra), [reply])
    refused, sent = harness.slack.called(method)
    assert refused.refused and not sent.refused
    assert any(b["type"] == "table" for b in refused.args["blocks"])
    assert not any(b["type"] in NATIVE for b in sent.args["blocks"])
    assert "ftchkpt-bbb" in json.dumps(sent.args["blocks"])  # the rows still show, as text


@pytest.mark.parametrize("path", PATHS)
async def test_blocks_too_long_is_sent_again_with_less_text(harness: SlackHarness, path: str) -> None:
    method, reply, extra = PATHS[path]
    facts = tuple(Fact(f"fact {i}", "y" * 1500) for i in range(8))
    reply = replace(reply, card=Card(title="Usage", text="x" * 2500, facts=facts))
    harness.slack.fail_next(method, "msg_blocks_too_long")
    await harness.adapter.sender.deliver(_origin(harness, **extra), [reply])
    refused, sent = harness.slack.called(method)
    assert not sent.refused
    assert text_size(sent.args["blocks"]) < text_size(refused.args["blocks"])
    assert "more parts not shown" in json.dumps(sent.args["blocks"])


async def test_other_refusals_are_not_retried(harness: SlackHarness) -> None:
    harness.slack.fail_next("chat.update", "message_not_found")
    update = MessageRef("slack", payloads.CHANNEL, "1.000001")
    await harness.adapter.sender.deliver(_origin(harness), [Reply(TABLE_CARD, update=update)])
    assert len(harness.slack.called("chat.update")) == 1


async def test_a_card_the_plainer_rendering_cannot_change_is_not_sent_twice(harness: SlackHarness) -> None:
    card = Card(title="Hello", text="plain")
    assert render_blocks(card) == render_blocks(card, native=False)
    harness.slack.fail_next("chat.postEphemeral", "invalid_blocks")
    await harness.adapter.sender.deliver(_origin(harness), [Reply(card, ephemeral=True)])
    assert len(harness.slack.called("chat.postEphemeral")) == 1
