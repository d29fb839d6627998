"""Pure translation of Slack payloads to the neutral model."""

from __future__ import annotations

import pytest

from adapters.slack_translate import (
    action_origin,
    attachments,
    conversation_kind,
    event_origin,
    is_user_message,
    slash_origin,
    strip_mention,
)
from tests.slack import payloads


@pytest.mark.parametrize(
    ("text", "bot", "expected"),
    [
        ("<@UBOT00001> status ftjob-abc", "UBOT00001", "status ftjob-abc"),
        ("<@UBOT00001|ftbot>   help", "UBOT00001", "help"),
        ("status <@UBOT00001> ftjob-abc", "UBOT00001", "status  ftjob-abc"),
        ("<@UBOT00001> list --mine <@U0USER0001>", "UBOT00001", "list --mine <@U0USER0001>"),
        ("<@UBOT00001>", "UBOT00001", ""),
        ("<@UANY00001> status x", None, "status x"),
        ("status x", None, "status x"),
    ],
)
def test_strip_mention(text: str, bot: str | None, expected: str) -> None:
    assert strip_mention(text, bot) == expected


@pytest.mark.parametrize(
    ("channel", "channel_type", "kind"),
    [
        ("C0123", "", "channel"),
        ("G0123", "group", "channel"),
        ("D0123", "", "personal"),
        ("C9", "im", "personal"),
        ("G1", "mpim", "group"),
    ],
)
def test_conversation_kind(channel: str, channel_type: str, kind: str) -> None:
    assert conversation_kind(channel, channel_type) == kind


def test_slash_command_origin() -> None:
    origin = slash_origin(
        payloads.slash_command("status x", response_url="https://hooks.slack.com/commands/1")
    )
    assert origin.conversation.id == payloads.CHANNEL
    assert origin.conversation.key == f"slack:{payloads.CHANNEL}"
    assert origin.response_url == "https://hooks.slack.com/commands/1"
    assert origin.thread_ts is None and origin.source is None
    dm = slash_origin({**payloads.slash_command("x"), "channel_id": "D0DM", "channel_name": "directmessage"})
    assert dm.conversation.kind == "personal"
    group = slash_origin(
        {**payloads.slash_command("x"), "channel_id": "G0MP", "channel_name": "mpdm-ada--bob-1"}
    )
    assert group.conversation.kind == "group"


def test_event_origin_threads() -> None:
    top = event_origin(payloads.event(payloads.app_mention("hi", ts="5.1")))
    assert (top.thread_ts, top.anchor_ts) == (None, "5.1")
    inner = payloads.app_mention("hi", ts="5.2")
    inner["thread_ts"] = "4.0"
    threaded = event_origin(payloads.event(inner))
    assert (threaded.thread_ts, threaded.anchor_ts, threaded.conversation.thread) == ("4.0", "4.0", "4.0")


def test_action_origin_of_an_ephemeral_message() -> None:
    origin = action_origin(payloads.block_actions("ft1:x", "", message_ts="7.7", ephemeral=True))
    assert origin.source_ephemeral
    assert origin.source is not None and origin.source.message_id == "7.7"


def test_attachments_skip_malformed_files() -> None:
    event = {
        "files": [
            {"id": "F0AAAAAAA", "name": "a.jsonl", "size": 3},
            {"name": "no id"},
            "junk",
            {"id": "F0BBBBBBB", "size": "big"},
        ]
    }
    found = attachments(event)
    assert [a.platform_id for a in found] == ["F0AAAAAAA", "F0BBBBBBB"]
    assert found[1].size is None and found[1].name == "F0BBBBBBB"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"user": "U1", "text": "x"}, True),
        ({"user": "U1", "subtype": "file_share"}, True),
        ({"user": "U1", "bot_id": "B1"}, False),
        ({"subtype": "bot_message", "bot_id": "B1"}, False),
        ({"user": "U1", "subtype": "message_changed"}, False),
        ({"text": "no user"}, False),
    ],
)
def test_is_user_message(event: dict[str, str], expected: bool) -> None:
    assert is_user_message(event) is expected


def test_ampersands_in_urls_arrive_whole() -> None:
    from adapters.slack_translate import unescape_text

    typed = "start m --training <https://a.blob.core.windows.net/c/t.jsonl?sv=1&amp;sig=x>"
    assert unescape_text(typed).endswith("?sv=1&sig=x>")
    assert unescape_text("a &lt;b&gt;") == "a &lt;b&gt;"
