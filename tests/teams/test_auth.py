"""Bot Framework JWT: enforced whenever app credentials are set, off (with a warning) only when they are not.

Only the rejection path is exercised with credentials: nothing here may reach login.botframework.com or
login.microsoftonline.com, which a guard checks.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any, cast

import jwt
import pytest
import requests
from aiohttp import StreamReader
from aiohttp.test_utils import make_mocked_request
from botframework.connector.auth import jwt_token_extractor

from adapters.teams import has_bearer_token
from tests.teams.conftest import BotFactory

APP = {"MicrosoftAppId": "7d6f3b7e-0000-4000-8000-00000000b07", "MicrosoftAppPassword": "test-password"}
FOREIGN_TOKEN = jwt.encode(
    {"iss": "https://issuer.example.com", "aud": APP["MicrosoftAppId"], "serviceurl": "http://x"},
    "a-key-that-is-long-enough-for-hs256-signing",
    algorithm="HS256",
)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record (and refuse) any attempt to fetch signing keys or tokens; the test asserts there was none."""
    attempts: list[str] = []

    async def refresh(self: Any) -> None:
        attempts.append(f"openid metadata {self.url}")
        raise ConnectionError("network is off in tests")

    def request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        attempts.append(f"{method} {url}")
        raise ConnectionError("network is off in tests")

    monkeypatch.setattr(jwt_token_extractor._OpenIdMetadata, "_refresh", refresh)
    monkeypatch.setattr(requests.Session, "request", request)
    yield attempts


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", f"Bearer {FOREIGN_TOKEN}"],
    ids=["missing", "empty", "no-token", "garbage", "basic", "foreign-issuer"],
)
@pytest.mark.parametrize("kind", ["message_personal", "invoke_execute"])
async def test_without_a_valid_token_the_request_is_rejected_and_nothing_runs(
    bot_factory: BotFactory, no_network: list[str], authorization: str | None, kind: str
) -> None:
    async with bot_factory(**APP) as bot:
        assert bot.adapter.authenticates
        headers = {} if authorization is None else {"Authorization": authorization}
        status, _ = await bot.post(bot.payload(kind), headers=headers)

        assert status == 401
        assert bot.seen.commands == [] and bot.seen.actions == []
        assert bot.connector.calls == []
        assert await bot.store.get_conversation("teams:a:1personal-chat-xyz") is None
    assert no_network == []


async def test_without_credentials_mounting_warns_and_requests_are_served(
    bot_factory: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="adapters.teams"):
        async with bot_factory() as bot:
            status, _ = await bot.post(bot.payload("message_personal"))
            await bot.connector.wait_for(1)

    assert status == 200
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "NOT authenticated" in r.message
    ]
    assert len(warnings) == 1


async def test_with_credentials_mounting_does_not_warn(
    bot_factory: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="adapters.teams"):
        async with bot_factory(**APP):
            pass

    assert not [r for r in caplog.records if "NOT authenticated" in r.message]


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"type=message", "application/x-www-form-urlencoded", 415),
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'{"text": "no type"}', "application/json", 400),
    ],
    ids=["form", "broken-json", "not-an-object", "no-type"],
)
async def test_malformed_requests_are_refused(
    bot_factory: BotFactory, body: bytes, content_type: str, expected: int
) -> None:
    async with bot_factory() as bot:
        resp = await bot.client.post("/api/messages", data=body, headers={"Content-Type": content_type})

        assert resp.status == expected
        assert bot.seen.commands == []


class _UnreadableBody:
    """A request body that fails the test if anything reads it."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the body was read ({name}) before the Authorization header was checked")


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz"])
async def test_without_a_bearer_token_the_body_is_not_read(
    bot_factory: BotFactory, no_network: list[str], authorization: str | None
) -> None:
    async with bot_factory(**APP) as bot:
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        request = make_mocked_request(
            "POST", "/api/messages", headers=headers, payload=cast(StreamReader, _UnreadableBody())
        )

        resp = await bot.adapter.handle(request)

        assert resp.status == 401
        assert bot.seen.commands == []
    assert no_network == []


async def test_large_unauthenticated_post_gets_401_not_413(
    bot_factory: BotFactory, no_network: list[str]
) -> None:
    # The test app keeps aiohttp's 1 MiB body limit: reading this body would answer 413.
    body = io.BytesIO(b'{"type": "message", "text": "' + b"x" * (2 * 1024 * 1024) + b'"}')
    async with bot_factory(**APP) as bot:
        resp = await bot.client.post("/api/messages", data=body, headers={"Content-Type": "application/json"})

        assert resp.status == 401
        assert bot.seen.commands == []
    assert no_network == []


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("Bearer abc", True),
        ("bearer abc", True),
        (" Bearer  abc ", True),
        ("Bearer", False),
        ("Bearer ", False),
        ("Basic abc", False),
        ("", False),
        ("abc", False),
    ],
)
def test_bearer_token_shape(authorization: str, expected: bool) -> None:
    assert has_bearer_token(authorization) is expected
