"""Files shared in Slack: ids and links resolved with `files.info`, content streamed from `url_private`."""

from __future__ import annotations

import json

import pytest

from adapters.slack_files import SlackFileError, SlackFiles, parse_file_ref
from bot.model import Conversation, User
from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN, SlackHarness
from tests.slack.fake_slack_api import BOT_USER_ID

# Who asks, and where: the test user in the test channel, where the stand-in shares files by default.
ASKER = {"user": User(payloads.USER), "conversation": Conversation("slack", payloads.CHANNEL)}
TRAINING = b"".join(
    json.dumps(
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
    ).encode()
    + b"\n"
    for i in range(5000)
)


@pytest.mark.parametrize(
    "ref",
    [
        "F0123ABCD",
        " F0123ABCD ",
        "<https://acme.slack.com/files/U0USER0001/F0123ABCD/train.jsonl|train.jsonl>",
        "https://acme.slack.com/files/U0USER0001/F0123ABCD/train.jsonl",
        "https://files.slack.com/files-pri/T0TEAM001-F0123ABCD/train.jsonl",
        "https://files.slack.com/files-pri/T0TEAM001-F0123ABCD/download/train.jsonl",
        "<https://files.slack.com/files-pri/T0TEAM001-F0123ABCD/train.jsonl>",
    ],
)
def test_file_ids_and_links_are_read(ref: str) -> None:
    assert parse_file_ref(ref) == "F0123ABCD"


@pytest.mark.parametrize(
    "ref", ["", "train.jsonl", "f0123abcd", "https://example.com/train.jsonl", "file-abc123"]
)
def test_anything_else_is_a_clear_error(ref: str) -> None:
    with pytest.raises(SlackFileError, match="not a Slack file id or link"):
        parse_file_ref(ref)


async def test_fetch_streams_the_file_with_the_bot_token(harness: SlackHarness) -> None:
    harness.slack.share_file("F0FILE0001", "train.jsonl", TRAINING)
    name, chunks = await harness.adapter.fetch_slack_file("F0FILE0001", **ASKER)
    assert name == "train.jsonl"
    received = [chunk async for chunk in chunks]
    assert b"".join(received) == TRAINING
    assert len(received) > 1  # streamed in chunks, not read whole
    (download,) = harness.slack.called("download")
    assert download.authorization == f"Bearer {BOT_TOKEN}"


async def test_fetch_by_link_as_a_handler_does(harness: SlackHarness) -> None:
    harness.slack.share_file("F0FILE0002", "valid.jsonl", b'{"a": 1}\n')
    link = "<https://acme.slack.com/files/U0USER0001/F0FILE0002/valid.jsonl|valid.jsonl>"
    await harness.command(f"read {link}")
    (post,) = await harness.slack.wait_for("chat.postMessage")
    assert post.args["text"] == "Read valid.jsonl"
    assert harness.handled.files == [("valid.jsonl", b'{"a": 1}\n')]


async def test_file_attached_to_a_mention_is_fetched_by_the_handler(harness: SlackHarness) -> None:
    harness.slack.share_file("F0FILE0003", "train.jsonl", TRAINING)
    shared = payloads.slack_file("F0FILE0003", "train.jsonl", harness.slack.url, size=len(TRAINING))
    await harness.event(payloads.app_mention(f"<@{BOT_USER_ID}> read", files=[shared]))
    await harness.slack.wait_for("chat.postMessage")
    assert harness.handled.files == [("train.jsonl", TRAINING)]


async def test_unknown_file_is_a_readable_error(harness: SlackHarness) -> None:
    with pytest.raises(SlackFileError, match="file_not_found"):
        await harness.adapter.fetch_slack_file("F0MISSING1", **ASKER)
    await harness.command("read F0MISSING1")
    (post,) = await harness.slack.wait_for("chat.postMessage")
    assert "F0MISSING1" in json.dumps(post.args["blocks"])


async def test_token_is_not_sent_outside_slack(harness: SlackHarness) -> None:
    shared = harness.slack.share_file("F0FILE0004", "train.jsonl", b"{}\n")
    shared.url_override = "https://evil.example.com/files-pri/T0TEAM001-F0FILE0004/train.jsonl"
    with pytest.raises(SlackFileError, match="outside Slack"):
        await harness.adapter.fetch_slack_file("F0FILE0004", **ASKER)
    assert harness.slack.called("download") == []


async def test_sign_in_page_instead_of_content_is_an_error(harness: SlackHarness) -> None:
    harness.slack.share_file("F0FILE0005", "train.jsonl", b"{}\n")
    files = SlackFiles(harness.adapter.client, "xoxb-wrong-token", harness.slack.api_url)
    _, chunks = await files.fetch("F0FILE0005", **ASKER)
    with pytest.raises(SlackFileError, match="refused the download"):
        _ = [chunk async for chunk in chunks]


async def test_token_never_goes_over_plain_http_to_slack(harness: SlackHarness) -> None:
    # Configured for the real Slack: an http link, even on a Slack host, is refused before any request.
    shared = harness.slack.share_file("F0FILE0006", "train.jsonl", b"{}\n")
    shared.url_override = "http://files.slack.com/files-pri/T0TEAM001-F0FILE0006/train.jsonl"
    files = SlackFiles(harness.adapter.client, BOT_TOKEN, "https://slack.com/api/")
    with pytest.raises(SlackFileError, match="not served over https"):
        await files.fetch("F0FILE0006", **ASKER)
    assert harness.slack.called("download") == []


async def test_https_slack_link_is_accepted_with_the_real_api(harness: SlackHarness) -> None:
    shared = harness.slack.share_file("F0FILE0007", "train.jsonl", b"{}\n")
    shared.url_override = "https://files.slack.com/files-pri/T0TEAM001-F0FILE0007/train.jsonl"
    files = SlackFiles(harness.adapter.client, BOT_TOKEN, "https://slack.com/api/")
    name, _chunks = await files.fetch(
        "F0FILE0007", **ASKER
    )  # the download starts on iteration; not done here
    assert name == "train.jsonl"


async def test_http_to_the_api_host_only_when_the_api_itself_is_http(harness: SlackHarness) -> None:
    # The stand-in serves files over http; configured as https on the same host, that link is refused.
    harness.slack.share_file("F0FILE0008", "train.jsonl", b"{}\n")
    https_api = harness.slack.api_url.replace("http://", "https://", 1)
    files = SlackFiles(harness.adapter.client, BOT_TOKEN, https_api)
    with pytest.raises(SlackFileError, match="not served over https"):
        await files.fetch("F0FILE0008", **ASKER)
    assert harness.slack.called("download") == []
    # Configured as http (a local stand-in), the same link is downloaded.
    files = SlackFiles(harness.adapter.client, BOT_TOKEN, harness.slack.api_url)
    _, chunks = await files.fetch("F0FILE0008", **ASKER)
    assert b"".join([chunk async for chunk in chunks]) == b"{}\n"
