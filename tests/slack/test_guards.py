"""Checks at the Slack edge, driven through the real Bolt app over HTTP with forged (validly signed) requests:
allowed workspaces, replays, undecodable bodies, and which shared files may be read for whom."""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack import ROUTE, mount_slack
from adapters.slack_files import SlackFileError, SlackFiles
from bot.config import load_settings
from bot.context import Context
from bot.model import Conversation, User
from bot.notifier import Notifier
from bot.router import Dispatcher
from bot.store import Store
from handlers.help import Presenter
from tests.slack import conftest as slack_conftest
from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN, Handled, SlackHarness
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.signing import SIGNING_SECRET, form_body, signed_headers
from tests.support import serve

OTHER_TEAM = "T0OTHER001"


async def _second_replica(
    slack_api: FakeSlackApi, store: Store, **settings: object
) -> tuple[TestClient, Handled]:
    config = load_settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack_api.api_url,
        **settings,
    )
    handled = Handled()
    ctx = Context(settings=config, store=store, azure=None, notifier=Notifier())
    app = web.Application()
    adapter = mount_slack(
        app, config, Dispatcher(slack_conftest.test_router(handled), ctx, Presenter()), store, Notifier()
    )
    assert adapter is not None
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    return client, handled


# -- allowed workspaces ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["command", "event"])
async def test_a_signed_request_from_another_workspace_gets_403_and_nothing_runs(
    harness: SlackHarness, kind: str
) -> None:
    if kind == "command":
        fields = payloads.slash_command("status ftjob-abc")
        fields["team_id"] = OTHER_TEAM
        resp = await harness.send(*form_body(fields))
    else:
        event = payloads.event(payloads.app_mention("<@UBOT00001> status ftjob-abc"))
        event["team_id"] = OTHER_TEAM
        event["authorizations"][0]["team_id"] = OTHER_TEAM
        body = json.dumps(event)
        resp = await harness.send(body, "application/json")
    await harness.adapter.drain()

    assert resp.status == 403
    assert harness.handled.commands == []
    assert harness.slack.messages() == []
    assert await harness.store.get_conversation(f"slack:{payloads.CHANNEL}") is None


async def test_the_own_workspace_comes_from_auth_test(harness: SlackHarness) -> None:
    resp = await harness.command("status ftjob-abc")
    await harness.adapter.drain()
    assert resp.status == 200
    assert [c.params["job"] for c in harness.handled.commands] == ["ftjob-abc"]
    assert await harness.adapter.allowed_workspaces() == frozenset({"T0TEAM001"})


async def test_listed_workspaces_replace_the_default(slack_api: FakeSlackApi, slack_store: Store) -> None:
    client, _ = await _second_replica(
        slack_api, slack_store, slack_allowed_workspaces=f"{OTHER_TEAM}, E0GRID0001"
    )
    try:
        for team, expected in ((OTHER_TEAM, 200), ("T0TEAM001", 403)):
            fields = payloads.slash_command("status ftjob-abc")
            fields["team_id"] = team
            body, content_type = form_body(fields)
            resp = await client.post(ROUTE, data=body.encode(), headers=signed_headers(body, content_type))
            assert resp.status == expected, team
    finally:
        await client.close()


# -- replays -----------------------------------------------------------------------------------------------------


async def test_a_replayed_request_is_acknowledged_and_ignored(harness: SlackHarness) -> None:
    body, content_type = form_body(payloads.slash_command("status ftjob-abc"))
    headers = signed_headers(body, content_type)
    first = await harness.send(body, content_type, headers=headers)
    await harness.adapter.drain()
    again = await harness.send(body, content_type, headers=headers)
    await harness.adapter.drain()

    assert (first.status, again.status) == (200, 200)
    assert len(harness.handled.commands) == 1
    assert len(harness.slack.called("chat.postMessage")) == 1


async def test_a_replay_to_another_replica_is_ignored_too(
    harness: SlackHarness, slack_api: FakeSlackApi
) -> None:
    # Another replica: its own Bolt app and memory, the same database.
    client, other = await _second_replica(slack_api, harness.store)
    try:
        body, content_type = form_body(payloads.slash_command("status ftjob-abc"))
        headers = signed_headers(body, content_type)
        assert (await harness.send(body, content_type, headers=headers)).status == 200
        await harness.adapter.drain()
        resp = await client.post(ROUTE, data=body.encode(), headers=headers)
        assert resp.status == 200
        # The same command, signed anew (a new timestamp), is a new request and runs.
        fresh = signed_headers(body, content_type, timestamp=int(headers["X-Slack-Request-Timestamp"]) + 1)
        assert (await client.post(ROUTE, data=body.encode(), headers=fresh)).status == 200
    finally:
        await client.close()
    assert len(harness.handled.commands) == 1
    assert len(other.commands) == 1


# -- bodies that cannot be decoded ------------------------------------------------------------------------------


@pytest.mark.parametrize("charset", ["bogus-charset", "rot13"])
async def test_a_bogus_charset_is_a_400_and_one_log_line(
    harness: SlackHarness, caplog: pytest.LogCaptureFixture, charset: str
) -> None:
    body, content_type = form_body(payloads.slash_command("status ftjob-abc"))
    headers = signed_headers(body, f"{content_type}; charset={charset}")
    with caplog.at_level(logging.INFO):
        resp = await harness.send(body, content_type, headers=headers)
    await harness.adapter.drain()

    assert resp.status == 400
    assert harness.handled.commands == []
    mine = [r for r in caplog.records if "cannot be decoded" in r.getMessage()]
    assert len(mine) == 1 and mine[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# -- shared files ---------------------------------------------------------------------------------------------


async def test_a_file_of_another_channel_is_refused_and_not_downloaded(harness: SlackHarness) -> None:
    # Shared in a private channel the asker is not in, by someone else.
    harness.slack.share_file(
        "F0SECRET01", "train.jsonl", b"{}\n", user="U0SOMEONE1", channels=(), groups=("G0PRIVATE1",)
    )
    await harness.command("read F0SECRET01")
    (post,) = await harness.slack.wait_for("chat.postMessage")
    await harness.adapter.drain()

    told = json.dumps(post.args["blocks"])
    assert "not shared in this conversation" in told and "did not upload it" in told
    assert harness.slack.called("download") == []
    assert harness.handled.files == []


@pytest.mark.parametrize(
    ("shared", "asker", "where"),
    [
        ({"channels": (payloads.CHANNEL,), "user": "U0SOMEONE1"}, payloads.USER, payloads.CHANNEL),
        ({"channels": (), "groups": ("G0PRIVATE1",), "user": "U0SOMEONE1"}, payloads.USER, "G0PRIVATE1"),
        ({"channels": (), "ims": ("D0DIRECT01",), "user": "U0SOMEONE1"}, payloads.USER, "D0DIRECT01"),
        ({"channels": (), "user": payloads.USER}, payloads.USER, "C0ELSE0001"),  # their own upload
    ],
    ids=["this-channel", "this-private-channel", "this-dm", "own-upload"],
)
async def test_a_file_shared_here_or_uploaded_by_the_asker_is_read(
    harness: SlackHarness, shared: dict[str, object], asker: str, where: str
) -> None:
    harness.slack.share_file("F0FILE0100", "train.jsonl", b"{}\n", **shared)  # type: ignore[arg-type]
    name, chunks = await harness.adapter.fetch_slack_file(
        "F0FILE0100", user=User(asker), conversation=Conversation("slack", where)
    )
    assert (name, b"".join([c async for c in chunks])) == ("train.jsonl", b"{}\n")


async def test_the_token_goes_only_to_the_api_origin_not_another_port(harness: SlackHarness) -> None:
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(body=b"{}\n")

    elsewhere = web.Application()
    elsewhere.router.add_get("/{tail:.*}", record)
    async with serve(elsewhere) as other_port:  # same host (127.0.0.1) as the stand-in API, another port
        shared = harness.slack.share_file("F0FILE0200", "train.jsonl", b"{}\n")
        shared.url_override = f"{other_port}/files-pri/T0TEAM001-F0FILE0200/train.jsonl"
        files = SlackFiles(harness.adapter.client, BOT_TOKEN, harness.slack.api_url)
        with pytest.raises(SlackFileError, match="another port"):
            await files.fetch(
                "F0FILE0200", user=User(payloads.USER), conversation=Conversation("slack", payloads.CHANNEL)
            )
    assert seen == []


@pytest.mark.parametrize(
    ("api", "url", "allowed"),
    [
        ("https://slack.com/api/", "https://files.slack.com/files-pri/T1-F1/a", True),
        ("https://slack.com/api/", "https://files.slack.com:8443/files-pri/T1-F1/a", False),
        ("https://slack.com/api/", "http://files.slack.com/files-pri/T1-F1/a", False),
        ("https://slack.com/api/", "https://files.slack.com.evil.example/a", False),
        ("http://127.0.0.1:8080/api/", "http://127.0.0.1:8080/files-pri/a", True),
        ("http://127.0.0.1:8080/api/", "http://127.0.0.1:8081/files-pri/a", False),
        ("http://127.0.0.1:8080/api/", "https://files.slack.com/files-pri/a", False),
        ("http://127.0.0.1:8080/api/", "http://localhost:8080/files-pri/a", False),
    ],
)
def test_token_origin_rule(api: str, url: str, allowed: bool) -> None:
    files = SlackFiles(None, BOT_TOKEN, api)  # type: ignore[arg-type]
    assert (files._token_refusal(url) is None) is allowed
