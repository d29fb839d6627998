"""Connector clients are kept across turns (adapters/teams_connectors.py), through the real botbuilder
`CloudAdapter` over HTTP against stand-in Bot Connectors: one client per service URL (and app id), not two new
msrest clients per activity; with app credentials one token from Azure AD (a stand-in for MSAL's client, whose
cache and renewal contract it keeps), fetched off the event loop and renewed when it expires."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth.microsoft_app_credentials import MicrosoftAppCredentials
from msrest.universal_http.requests import ClientRetryPolicy

from adapters.teams_connectors import ClientCache, pass_plain_json_through, plain_json
from adapters.teams_translate import card_activity
from cards.model import Card
from tests.teams.conftest import BotFactory, TeamsBot, payload
from tests.teams.fake_connector import FakeConnector, running_connector
from tests.teams.fake_openid import FakeOpenId

APP_ID = "7d6f3b7e-0000-4000-8000-0000000000c5"
TENANT = "tenant-1111"  # the tenant of the recorded payloads
TURNS = 5


@dataclass
class Built:
    connectors: int = 0
    retry_policies: int = 0


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Built:
    """Counts msrest clients built: `ConnectorClient`s and `ClientRetryPolicy`s (one per msrest configuration:
    the connector's and the user token client's)."""
    counts = Built()
    connector_init = ConnectorClient.__init__
    policy_init = ClientRetryPolicy.__init__

    def count_connector(self: Any, *args: Any, **kwargs: Any) -> None:
        counts.connectors += 1
        connector_init(self, *args, **kwargs)

    def count_policy(self: Any) -> None:
        counts.retry_policies += 1
        policy_init(self)

    monkeypatch.setattr(ConnectorClient, "__init__", count_connector)
    monkeypatch.setattr(ClientRetryPolicy, "__init__", count_policy)
    return counts


async def message(bot: TeamsBot, n: int, service_url: str | None = None, **headers: str) -> None:
    activity = payload("message_personal", service_url or bot.connector.url, id=f"msg-{n}")
    status, _ = await bot.post(activity, headers=headers)
    assert status == 200


async def test_turns_to_one_service_url_share_one_connector_client(
    bot_factory: BotFactory, built: Built
) -> None:
    async with bot_factory() as bot:
        for n in range(TURNS):
            await message(bot, n)
        calls = await bot.connector.wait_for(TURNS)

    assert [c.kind for c in calls] == ["reply"] * TURNS
    assert built.connectors == 1  # was one per turn
    assert built.retry_policies == 2  # the connector's and the user token client's; was two per turn


async def test_each_service_url_gets_its_own_client_and_its_own_replies(
    bot_factory: BotFactory, connector: FakeConnector, built: Built
) -> None:
    async with running_connector() as other, bot_factory() as bot:
        for n in range(TURNS):
            await message(bot, n, connector.url if n % 2 else other.url)
        mine = await connector.wait_for(TURNS // 2)
        theirs = await other.wait_for(TURNS - TURNS // 2)

    assert [c.activity_id for c in mine] == [f"msg-{n}" for n in range(1, TURNS, 2)]
    assert [c.activity_id for c in theirs] == [f"msg-{n}" for n in range(0, TURNS, 2)]
    assert built.connectors == 2


async def test_a_proactive_send_reuses_the_client_of_the_turns(bot_factory: BotFactory, built: Built) -> None:
    async with bot_factory() as bot:
        await message(bot, 0)
        await bot.connector.wait_for(1)
        conversation = bot.seen.commands[0].conversation
        stored = await bot.store.get_conversation(conversation.key)
        assert stored is not None
        await bot.adapter.sender.send(stored.reference, Card(title="Alert", text="job done"))
        calls = await bot.connector.wait_for(2)

    assert [c.kind for c in calls] == ["reply", "send"]
    assert built.connectors == 1


def test_the_cache_keeps_the_most_recently_used_clients() -> None:
    cache = ClientCache(size=2)
    a, b, c = object(), object(), object()
    assert cache.put(("app", "a", ""), a) is a
    assert cache.put(("app", "b", ""), b) is b
    assert cache.put(("app", "a", ""), object()) is a  # a client stored meanwhile wins
    assert cache.get(("app", "a", "")) is a
    cache.put(("app", "c", ""), c)  # evicts b, the least recently used
    assert cache.get(("app", "b", "")) is None
    assert (len(cache), cache.built) == (2, 3)


# -- with app credentials: tokens ---------------------------------------------------------------------------------


@dataclass
class FakeAad:
    """Azure AD's token endpoint as MSAL sees it: each fetch issues a new token; records the fetching thread."""

    issued: int = 0
    fetch_threads: list[int] = field(default_factory=list)

    def fetch(self) -> dict[str, Any]:
        self.issued += 1
        self.fetch_threads.append(threading.get_ident())
        return {"access_token": f"aad-token-{self.issued}", "token_type": "Bearer", "expires_in": 3600}


class FakeMsalApp:
    """MSAL's `ConfidentialClientApplication` contract as `MicrosoftAppCredentials` uses it: an in-memory token
    cache per app; `acquire_token_silent` answers from it until the token expires, `acquire_token_for_client`
    fetches a new one."""

    def __init__(self, aad: FakeAad) -> None:
        self.aad = aad
        self.cached: dict[str, Any] | None = None
        self.lock = threading.Lock()

    def expire(self) -> None:
        self.cached = None

    def acquire_token_silent(self, scopes: list[str], account: Any = None) -> dict[str, Any] | None:
        return self.cached

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
        with self.lock:
            self.cached = self.aad.fetch()
            return self.cached


@pytest.fixture
def aad(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeAad, list[FakeMsalApp]]]:
    service = FakeAad()
    apps: list[FakeMsalApp] = []

    def msal_app(self: MicrosoftAppCredentials) -> FakeMsalApp:
        if not self.app:
            self.app = FakeMsalApp(service)
            apps.append(self.app)
        return self.app

    monkeypatch.setattr(MicrosoftAppCredentials, "_MicrosoftAppCredentials__get_msal_app", msal_app)
    yield service, apps


@pytest.fixture
async def issuer() -> AsyncIterator[FakeOpenId]:
    async with FakeOpenId() as fake:
        yield fake


async def test_with_credentials_one_token_is_fetched_off_the_loop_and_renewed_when_it_expires(
    bot_factory: BotFactory, issuer: FakeOpenId, aad: tuple[FakeAad, list[FakeMsalApp]], built: Built
) -> None:
    service, apps = aad
    settings = {
        "MicrosoftAppId": APP_ID,
        "MicrosoftAppPassword": "test-password",
        "teams_openid_metadata_url": issuer.metadata_url,
        "teams_allowed_tenants": TENANT,
    }
    loop_thread = threading.get_ident()
    async with bot_factory(**settings) as bot:
        assert bot.adapter.keys is not None
        async with asyncio.timeout(10):  # a hang guard only
            await bot.adapter.keys.loaded.wait()
        bearer = f"Bearer {issuer.token(APP_ID, bot.connector.url)}"
        for n in range(TURNS):
            await message(bot, n, Authorization=bearer)
        first = await bot.connector.wait_for(TURNS)

        [app] = [a for a in apps if a.cached is not None]
        app.expire()  # the token ran out: the next turn gets a new one
        await message(bot, TURNS, Authorization=bearer)
        calls = await bot.connector.wait_for(TURNS + 1)

    assert {c.authorization for c in first} == {"Bearer aad-token-1"}  # was one token fetch per turn
    assert calls[-1].authorization == "Bearer aad-token-2"
    assert service.issued == 2
    assert loop_thread not in service.fetch_threads  # a fetch from Azure AD never blocks the event loop
    assert built.connectors == 1


# -- serialization ------------------------------------------------------------------------------------------------


def test_a_plain_json_card_is_passed_through_and_serializes_as_msrest_would() -> None:
    card = Card(title="Job `ftjob-1`", text="**running** — 3/10 epochs · ünïcode", buttons=())
    activity = card_activity(card)
    activity.channel_data = {"tenant": {"id": "tenant-1111"}, "when": datetime(2026, 1, 2, tzinfo=UTC)}
    stock = ConnectorClient(MicrosoftAppCredentials.empty(), base_url="http://127.0.0.1:9/")
    fast = ConnectorClient(MicrosoftAppCredentials.empty(), base_url="http://127.0.0.1:9/")
    pass_plain_json_through(fast)

    expected = stock._serialize.body(activity, "Activity")
    got = fast._serialize.body(activity, "Activity")

    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert got["channelData"]["when"] == "2026-01-02T00:00:00.000Z"  # not plain JSON: msrest's way


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        ({"a": [1, 2.5, True, None, "x", {"b": []}]}, True),
        ([], True),
        ({1: "int key"}, False),
        ({"a": (1, 2)}, False),
        ([datetime(2026, 1, 1)], False),
    ],
)
def test_plain_json(value: Any, plain: bool) -> None:
    assert plain_json(value) is plain
