"""Checks at the Teams edge through the real botbuilder CloudAdapter over HTTP: allowed tenants (with tokens
that pass the real JWT validation, signed by a stand-in issuer), signing keys fetched off the request path,
unauthenticated local use only on opt-in and only from this machine, exact JSON, undecodable bodies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
from aiohttp import web

from bot.app import _mount_adapters, start_bot
from bot.config import Settings, load_settings
from bot.errors import ConfigError
from bot.notifier import Notifier
from tests.conftest import bot_settings
from tests.slack import payloads
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.signing import SIGNING_SECRET, form_body, signed_headers
from tests.teams.conftest import BotFactory, TeamsBot, payload
from tests.teams.fake_openid import FakeOpenId

APP_ID = "7d6f3b7e-0000-4000-8000-0000000000b7"
TENANT = "tenant-1111"  # the tenant of the recorded payloads
CONVERSATION = "teams:19:chan-general@thread.tacv2"


@pytest.fixture
async def issuer() -> AsyncIterator[FakeOpenId]:
    async with FakeOpenId() as fake:
        yield fake


@pytest.fixture
def blocking_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records (and refuses) any blocking `requests` call: none may happen on a request."""
    calls: list[str] = []

    def request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(f"{method} {url}")
        raise ConnectionError("blocking HTTP in the event loop")

    monkeypatch.setattr(requests.Session, "request", request)
    yield calls


def app_settings(issuer: FakeOpenId, **more: Any) -> dict[str, Any]:
    return {
        "MicrosoftAppId": APP_ID,
        "MicrosoftAppPassword": "test-password",
        "teams_openid_metadata_url": issuer.metadata_url,
        **more,
    }


async def post_signed(bot: TeamsBot, issuer: FakeOpenId, kind: str, **changes: Any) -> int:
    if kind == "conversation_update":
        # A colleague joining, not the bot: nothing is said back (a welcome card would need an outgoing token,
        # which these tests of the incoming side do not provide).
        changes.setdefault("membersAdded", [{"id": "29:1colleague"}])
    activity = bot.payload(kind, **changes)
    token = issuer.token(APP_ID, activity["serviceUrl"])
    status, _ = await bot.post(activity, headers={"Authorization": f"Bearer {token}"})
    return status


async def keys_loaded(bot: TeamsBot) -> None:
    assert bot.adapter.keys is not None
    async with asyncio.timeout(10):  # a hang guard only
        await bot.adapter.keys.loaded.wait()


# -- allowed tenants ---------------------------------------------------------------------------------------------


async def test_a_valid_token_from_an_allowed_tenant_is_served(
    bot_factory: BotFactory, issuer: FakeOpenId, blocking_http: list[str]
) -> None:
    async with bot_factory(**app_settings(issuer, teams_allowed_tenants=f"{TENANT},tenant-3333")) as bot:
        await keys_loaded(bot)
        assert await post_signed(bot, issuer, "conversation_update") == 200
        assert await bot.store.get_conversation(CONVERSATION) is not None
    assert blocking_http == []


@pytest.mark.parametrize(
    "tenants",
    [{"teams_allowed_tenants": "tenant-2222"}, {"MicrosoftAppTenantId": "tenant-2222"}, {}],
    ids=["listed", "own-tenant-default", "multi-tenant-without-a-list"],
)
@pytest.mark.parametrize("kind", ["conversation_update", "message_personal", "invoke_execute"])
async def test_a_valid_token_from_another_tenant_gets_403_and_nothing_runs(
    bot_factory: BotFactory, issuer: FakeOpenId, blocking_http: list[str], tenants: dict[str, str], kind: str
) -> None:
    async with bot_factory(**app_settings(issuer, **tenants)) as bot:
        await keys_loaded(bot)
        assert await post_signed(bot, issuer, kind) == 403
        assert bot.seen.commands == [] and bot.seen.actions == []
        assert bot.connector.calls == []
        assert await bot.store.get_conversation(CONVERSATION) is None
        assert await bot.store.get_conversation("teams:a:1personal-chat-xyz") is None
    assert blocking_http == []


async def test_the_own_tenant_is_the_default(bot_factory: BotFactory, issuer: FakeOpenId) -> None:
    settings = app_settings(issuer, MicrosoftAppTenantId=TENANT, MicrosoftAppType="SingleTenant")
    async with bot_factory(**settings) as bot:
        await keys_loaded(bot)
        assert await post_signed(bot, issuer, "conversation_update") == 200


# -- signing keys ---------------------------------------------------------------------------------------------


async def test_while_the_keys_cannot_be_fetched_tokens_are_refused_without_blocking(
    bot_factory: BotFactory, issuer: FakeOpenId, blocking_http: list[str]
) -> None:
    issuer.hold()  # the identity service does not answer
    async with bot_factory(**app_settings(issuer, teams_allowed_tenants=TENANT)) as bot:
        # Answered while the key fetch is still hanging: nothing on the request path waits for it.
        assert await post_signed(bot, issuer, "conversation_update") == 401
        assert issuer.fetches >= 1
        assert await bot.store.get_conversation(CONVERSATION) is None

        issuer.release()
        await keys_loaded(bot)
        assert await post_signed(bot, issuer, "conversation_update") == 200
    assert blocking_http == []


async def test_an_unknown_key_id_is_refused_and_asks_for_one_early_refresh(
    bot_factory: BotFactory, issuer: FakeOpenId, blocking_http: list[str]
) -> None:
    async with bot_factory(**app_settings(issuer, teams_allowed_tenants=TENANT)) as bot:
        await keys_loaded(bot)
        before = issuer.fetches
        for kid in ("rotated-1", "rotated-2", "rotated-3"):
            activity = bot.payload("conversation_update")
            token = issuer.token(APP_ID, activity["serviceUrl"], kid=kid)
            status, _ = await bot.post(activity, headers={"Authorization": f"Bearer {token}"})
            assert status == 401
        # One early refresh (of both key sets the bot validates with), however many unknown ids came.
        refreshed = before + len(bot.adapter.keys.keys)
        await issuer.wait_fetches(refreshed)
        await bot.adapter.keys.loaded.wait()
        for _ in range(20):  # let a second refresh, if one were wrongly asked for, reach the issuer
            await asyncio.sleep(0)
        assert issuer.fetches == refreshed, "unknown key ids ask for a refresh at most every few minutes"
    assert blocking_http == []


# -- unauthenticated local use ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "ftbot.example.ngrok.app"},  # a tunnel forwards the world to the loopback port
        {"Host": "attacker.example:3978"},  # DNS rebinding
        {"Origin": "https://attacker.example"},  # a web page the developer visits
        {"Origin": "null"},
    ],
    ids=["tunnel", "rebinding", "web-page", "opaque-origin"],
)
async def test_local_use_answers_only_this_machine(teams_bot: TeamsBot, headers: dict[str, str]) -> None:
    status, _ = await teams_bot.post(teams_bot.payload("message_personal"), headers=headers)
    assert status == 403
    assert teams_bot.seen.commands == []
    assert teams_bot.connector.calls == []
    assert await teams_bot.store.get_conversation("teams:a:1personal-chat-xyz") is None


@pytest.mark.parametrize("headers", [{"Host": "localhost:3978"}, {"Origin": "http://127.0.0.1:3978"}, {}])
async def test_local_use_from_this_machine_is_served(teams_bot: TeamsBot, headers: dict[str, str]) -> None:
    status, _ = await teams_bot.post(teams_bot.payload("message_personal"), headers=headers)
    await teams_bot.connector.wait_for(1)
    assert status == 200
    assert len(teams_bot.seen.commands) == 1


async def test_without_credentials_or_opt_in_every_request_is_refused(bot_factory: BotFactory) -> None:
    async with bot_factory(teams_no_auth=False) as bot:
        status, _ = await bot.post(bot.payload("message_personal"))
        assert status == 401
        assert bot.seen.commands == [] and bot.connector.calls == []


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; note=application/json",
        "application/json-seq",
        "application/x-www-form-urlencoded",
    ],
)
async def test_the_body_must_be_exactly_json(teams_bot: TeamsBot, content_type: str) -> None:
    body = b'{"type": "message", "text": "status ftjob-abc"}'
    resp = await teams_bot.client.post("/api/messages", data=body, headers={"Content-Type": content_type})
    assert resp.status == 415
    assert teams_bot.seen.commands == []


@pytest.mark.parametrize("charset", ["bogus-charset", "rot13", "utf-8"])
async def test_a_body_that_cannot_be_decoded_is_a_400_and_one_log_line(
    teams_bot: TeamsBot, caplog: pytest.LogCaptureFixture, charset: str
) -> None:
    body = b'{"type": "message", "text": "caf\xe9"}'  # latin-1 bytes: not utf-8 either
    with caplog.at_level(logging.INFO):
        resp = await teams_bot.client.post(
            "/api/messages", data=body, headers={"Content-Type": f"application/json; charset={charset}"}
        )
    assert resp.status == 400
    assert teams_bot.seen.commands == []
    mine = [r for r in caplog.records if "cannot be decoded" in r.getMessage()]
    assert len(mine) == 1 and mine[0].levelno == logging.WARNING
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_bogus_charset_with_a_bearer_token_is_a_400_too(
    bot_factory: BotFactory, issuer: FakeOpenId, caplog: pytest.LogCaptureFixture
) -> None:
    async with bot_factory(**app_settings(issuer, teams_allowed_tenants=TENANT)) as bot:
        with caplog.at_level(logging.INFO):
            resp = await bot.client.post(
                "/api/messages",
                data=b'{"type": "message"}',
                headers={"Content-Type": "application/json; charset=bogus", "Authorization": "Bearer x.y.z"},
            )
        assert resp.status == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"slack_bot_token": "xoxb-1", "slack_signing_secret": "s"}, "not together with Slack"),
        ({"azure_openai_endpoint": "https://my.openai.azure.com"}, "Azure endpoint off this machine"),
        ({"MicrosoftAppId": APP_ID}, "not with MicrosoftAppId"),
    ],
)
def test_no_auth_is_refused_with_anything_shared(extra: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(teams_no_auth=True, **extra)
    assert any(problem in p for p in raised.value.problems)


@pytest.mark.parametrize(
    ("settings", "teams_on"),
    [
        ({}, True),  # the embedded default: implied
        ({"azure_openai_endpoint": "http://127.0.0.1:9000", "arm_endpoint": "http://127.0.0.1:9000"}, True),
        ({"azure_openai_endpoint": "https://my.openai.azure.com"}, False),  # a real resource: not implied
        ({"azure_openai_endpoint": "https://my.openai.azure.com", "slack_bot_token": "xoxb-1"}, False),
    ],
)
def test_unauthenticated_teams_is_mounted_only_when_implied(settings: dict[str, str], teams_on: bool) -> None:
    app = web.Application()
    mounted = _mount_adapters(app, Settings(**settings), dispatcher=None, store=None, notifier=Notifier())  # type: ignore[arg-type]
    assert ("teams" in mounted) is teams_on
    if teams_on:
        assert mounted["teams"].no_auth


async def test_a_forged_token_does_not_hold_up_slack_while_keys_hang(
    issuer: FakeOpenId, emulator: Any, tmp_path: Path, connector: Any, blocking_http: list[str]
) -> None:
    """The incident: one anonymous Teams request froze every Slack ack. Now, with the identity service not
    answering, the Teams request is refused and a Slack command is acknowledged and answered meanwhile."""

    issuer.hold()
    async with FakeSlackApi(token="xoxb-test-token") as slack:
        settings = bot_settings(
            emulator,
            tmp_path,
            slack_bot_token="xoxb-test-token",
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.api_url,
            microsoft_app_id=APP_ID,
            microsoft_app_password="test-password",
            teams_openid_metadata_url=issuer.metadata_url,
            teams_allowed_tenants=TENANT,
        )
        bot = await start_bot(settings)
        try:
            activity = payload("message_personal", connector.url)
            forged = issuer.token(APP_ID, activity["serviceUrl"])
            async with aiohttp.ClientSession() as http:
                teams = await http.post(
                    f"{bot.url}/api/messages", json=activity, headers={"Authorization": f"Bearer {forged}"}
                )
                body, content_type = form_body(payloads.slash_command("help"))
                ack = await http.post(
                    f"{bot.url}/slack/events", data=body.encode(), headers=signed_headers(body, content_type)
                )
                assert (teams.status, ack.status) == (401, 200)
            await slack.wait_for("chat.postEphemeral")  # help is private to the asker
            assert issuer.fetches >= 1 and not bot.adapters["teams"].keys.ready(), "the key fetch still hangs"
        finally:
            issuer.release()
            await bot.close()
    assert blocking_http == []
