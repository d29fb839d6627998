"""The local Direct Line endpoint against the Direct Line 3.0 reference: tokens, starting a conversation,
posting activities, getting them with watermarks (polling and the WebSocket stream), errors as
`{"error": {"code", "message"}}` with the documented statuses, the real bot answering behind it."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bot.app import RunningBot
from tests.cards.validate import assert_valid_adaptive
from tests.webchat.conftest import API, DirectLineClient, card_text, cards

pytestmark = pytest.mark.asyncio


def _error(body: Any) -> tuple[str, str]:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    return body["error"]["code"], body["error"]["message"]


async def test_generate_then_start_conversation(dl: DirectLineClient) -> None:
    status, generated = await dl.call("POST", f"{API}/tokens/generate", json={"user": {"id": "alice"}})
    assert status == 200
    assert generated["user"] == {"id": "alice", "name": "alice"}
    assert generated["expires_in"] > 0 and generated["conversationId"] and generated["token"]

    status, started = await dl.call("POST", f"{API}/conversations", token=generated["token"])
    assert status == 201  # created
    assert started["conversationId"] == generated["conversationId"]
    assert started["token"] == generated["token"] and started["expires_in"] > 0
    assert started["streamUrl"].startswith("ws://127.0.0.1:")
    assert f"/conversations/{started['conversationId']}/stream?t=" in started["streamUrl"]

    status, again = await dl.call("POST", f"{API}/conversations", token=generated["token"])
    assert status == 200  # already started with this token
    assert again["conversationId"] == started["conversationId"]


async def test_users_get_their_own_conversation_and_a_default_id(dl: DirectLineClient) -> None:
    _, first = await dl.call("POST", f"{API}/tokens/generate")
    _, second = await dl.call("POST", f"{API}/tokens/generate")
    assert first["user"]["id"].startswith("local-user-") and second["user"]["id"].startswith("local-user-")
    assert first["user"]["id"] != second["user"]["id"]
    assert first["conversationId"] != second["conversationId"]
    # The same user again (a reload, a second tab as the same person) finds the same conversation.
    _, again = await dl.call("POST", f"{API}/tokens/generate", json={"user": {"id": first["user"]["id"]}})
    assert again["conversationId"] == first["conversationId"]


async def test_post_echoes_and_the_bot_answers_help_with_its_card(dl: DirectLineClient) -> None:
    await dl.connect("alice")
    activity_id = await dl.say("help")
    assert activity_id.startswith(f"{dl.conversation_id}|")

    seen = await dl.wait_for(lambda acts: any(cards(a) for a in acts))
    echo = next(a for a in seen if a["id"] == activity_id)
    assert echo["text"] == "help" and echo["from"] == {"id": "alice", "name": "alice", "role": "user"}
    assert echo["conversation"] == {"id": dl.conversation_id} and echo["timestamp"]
    reply = next(a for a in seen if cards(a))
    assert reply["from"]["role"] == "bot" and reply["type"] == "message"
    assert seen.index(reply) > seen.index(echo)
    card = cards(reply)[0]
    assert_valid_adaptive(card)
    assert "ftbot commands" in card_text(card)


async def test_watermarks_return_only_what_is_new(dl: DirectLineClient) -> None:
    await dl.connect()
    await dl.say("help")
    await dl.wait_for(lambda acts: any(cards(a) for a in acts))
    mark = dl.watermark
    assert mark is not None and int(mark) >= 2

    assert await dl.poll() == []  # nothing after the watermark
    assert dl.watermark == mark
    second = await dl.say("help list")
    fresh = await dl.wait_for(lambda acts: any(cards(a) for a in acts[2:]))
    new = [a for a in fresh if a not in fresh[: int(mark)]]
    assert new[0]["id"] == second  # what came after the watermark starts with the new message
    assert int(dl.watermark or 0) > int(mark)

    # Without a watermark the whole conversation comes back; a watermark of 0 is the same.
    _, everything = await dl.call(
        "GET", f"{API}/conversations/{dl.conversation_id}/activities", token=dl.token
    )
    _, from_zero = await dl.call(
        "GET", f"{API}/conversations/{dl.conversation_id}/activities?watermark=0", token=dl.token
    )
    assert everything["activities"] == from_zero["activities"] and len(everything["activities"]) >= 4


async def test_tokens_refresh_and_their_errors(dl: DirectLineClient) -> None:
    await dl.connect()
    status, refreshed = await dl.call("POST", f"{API}/tokens/refresh", token=dl.token)
    assert status == 200 and refreshed["conversationId"] == dl.conversation_id
    status, _ = await dl.call(
        "GET", f"{API}/conversations/{dl.conversation_id}/activities", token=refreshed["token"]
    )
    assert status == 200

    status, body = await dl.call("GET", f"{API}/conversations/{dl.conversation_id}/activities")
    assert status == 401 and _error(body)[0] == "Unauthorized"
    status, body = await dl.call(
        "GET", f"{API}/conversations/{dl.conversation_id}/activities", token=dl.token[:-2] + "xx"
    )
    assert status == 403 and _error(body)[0] == "BadArgument"
    status, body = await dl.call("POST", f"{API}/tokens/refresh", token="not-a-token")
    assert status == 403


async def test_expired_token_is_refused_as_token_expired(dl: DirectLineClient, web_bot: RunningBot) -> None:
    await dl.connect()
    tokens = web_bot.adapters["web"].tokens
    tokens.ttl = -1
    expired = tokens.issue(dl.conversation_id, dl.user_id, dl.user_id)
    status, body = await dl.call("GET", f"{API}/conversations/{dl.conversation_id}/activities", token=expired)
    assert status == 403 and _error(body)[0] == "TokenExpired"


async def test_unknown_and_foreign_conversations(dl: DirectLineClient, web_bot: RunningBot) -> None:
    await dl.connect()
    # A valid token for a conversation that does not exist (e.g. the bot restarted): 404.
    ghost = web_bot.adapters["web"].tokens.issue("no-such-conversation", "bob", "bob")
    for method, path in (
        ("GET", f"{API}/conversations/no-such-conversation/activities"),
        ("POST", f"{API}/conversations/no-such-conversation/activities"),
        ("GET", f"{API}/conversations/no-such-conversation"),
    ):
        status, body = await dl.call(method, path, token=ghost, json={"type": "message", "text": "hi"})
        assert status == 404, (method, path, body)
        assert _error(body)[0] == "NotFound"
    status, body = await dl.call("POST", f"{API}/conversations", token=ghost)
    assert status == 404

    # Someone else's conversation with my token: forbidden, and nothing is posted there.
    other = await DirectLineClient(dl.http, dl.base).connect("mallory")
    status, body = await dl.call(
        "POST",
        f"{API}/conversations/{other.conversation_id}/activities",
        token=dl.token,
        json={"type": "message"},
    )
    assert status == 403 and _error(body)[0] == "Forbidden"
    assert await other.poll() == []


async def test_malformed_activities_are_bad_requests(dl: DirectLineClient) -> None:
    await dl.connect()
    path = f"{API}/conversations/{dl.conversation_id}/activities"
    status, body = await dl.call("POST", path, token=dl.token, json={"text": "no type"})
    assert status == 400 and _error(body)[0] == "MissingProperty"
    status, body = await dl.call(
        "POST", path, token=dl.token, data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and _error(body)[0] == "BadSyntax"
    status, body = await dl.call("POST", path, token=dl.token, json=["a", "list"])
    assert status == 400
    status, body = await dl.call("GET", f"{path}?watermark=abc", token=dl.token)
    assert status == 400 and _error(body)[0] == "BadArgument"


async def test_the_token_decides_who_speaks(dl: DirectLineClient) -> None:
    await dl.connect("alice")
    activity_id = await dl.post(
        {"type": "message", "text": "help", "from": {"id": "the-boss", "name": "Boss"}}
    )
    seen = await dl.wait_for(lambda acts: any(a["id"] == activity_id for a in acts))
    echo = next(a for a in seen if a["id"] == activity_id)
    assert echo["from"]["id"] == "alice"


async def test_reconnect_gives_a_stream_url_from_the_watermark(dl: DirectLineClient) -> None:
    await dl.connect()
    status, body = await dl.call(
        "GET", f"{API}/conversations/{dl.conversation_id}?watermark=3", token=dl.token
    )
    assert status == 200 and body["conversationId"] == dl.conversation_id
    assert body["streamUrl"].endswith("&watermark=3")


async def test_websocket_stream_delivers_activity_sets(
    dl: DirectLineClient, http: aiohttp.ClientSession
) -> None:
    await dl.connect()
    async with http.ws_connect(dl.stream_url) as ws:
        sent = await dl.say("help")
        got: list[dict[str, Any]] = []
        watermarks: list[int] = []
        while not any(cards(a) for a in got):
            message = await ws.receive_json(timeout=20)
            assert set(message) == {"activities", "watermark"}
            got.extend(message["activities"])
            watermarks.append(int(message["watermark"]))
        assert got[0]["id"] == sent
        assert watermarks == sorted(watermarks)

    # A stream opened later from a watermark replays only what came after it.
    async with http.ws_connect(f"{dl.stream_url}&watermark=1") as ws:
        message = await ws.receive_json(timeout=20)
        assert message["activities"][0]["id"] != sent
        assert sent not in [a["id"] for a in message["activities"]]


async def test_stream_needs_a_token_for_that_conversation(
    dl: DirectLineClient, http: aiohttp.ClientSession
) -> None:
    await dl.connect()
    other = await DirectLineClient(dl.http, dl.base).connect()
    base = dl.stream_url.split("?")[0]
    for query in ("", f"?t={other.token}"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with http.ws_connect(base + query):
                pass
        assert refused.value.status == 403
