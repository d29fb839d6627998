"""The whole bot (real router, store, emulator) with its local Direct Line channel, and a small Direct Line
3.0 client that speaks to it over HTTP the way Web Chat's DirectLineJS does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import RunningBot, start_bot
from tests.conftest import bot_settings

API = "/v3/directline"
# Seconds before a wait for activities that never come fails the test instead of hanging it.
HANG_GUARD = 20.0
ADAPTIVE = "application/vnd.microsoft.card.adaptive"


def cards(activity: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["content"] for a in activity.get("attachments") or [] if a.get("contentType") == ADAPTIVE]


def card_text(card: dict[str, Any]) -> str:
    """Every TextBlock and fact of a card, flattened (enough to tell which card it is)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("text", "title", "value"):
                if isinstance(node.get(key), str):
                    found.append(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return "\n".join(found)


def buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every action of a card (action bars, nested ActionSets, show-cards), in order."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Action."):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


class DirectLineClient:
    """Direct Line 3.0 over HTTP: token, start, post, poll with watermarks (as DirectLineJS does)."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base
        self.token = ""
        self.conversation_id = ""
        self.stream_url = ""
        self.user_id = ""
        self.watermark: str | None = None
        self.seen: list[dict[str, Any]] = []

    async def call(
        self, method: str, path: str, *, token: str | None = None, json: Any = None, **kw: Any
    ) -> tuple[int, Any]:
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, f"{self.base}{path}", json=json, headers=headers, **kw) as r:
            body = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, body

    async def connect(self, user: str | None = None) -> DirectLineClient:
        status, body = await self.call(
            "POST", f"{API}/tokens/generate", json={"user": {"id": user}} if user else {}
        )
        assert status == 200, body
        self.user_id = body["user"]["id"]
        status, body = await self.call("POST", f"{API}/conversations", token=body["token"])
        assert status in (200, 201), body
        self.token, self.conversation_id, self.stream_url = (
            body["token"],
            body["conversationId"],
            body["streamUrl"],
        )
        return self

    async def say(self, text: str) -> str:
        return await self.post({"type": "message", "text": text, "from": {"id": self.user_id}})

    async def post(self, activity: dict[str, Any]) -> str:
        status, body = await self.call(
            "POST", f"{API}/conversations/{self.conversation_id}/activities", token=self.token, json=activity
        )
        assert status == 200, body
        return str(body["id"])

    async def poll(self) -> list[dict[str, Any]]:
        query = f"?watermark={self.watermark}" if self.watermark is not None else ""
        status, body = await self.call(
            "GET", f"{API}/conversations/{self.conversation_id}/activities{query}", token=self.token
        )
        assert status == 200, body
        self.watermark = body["watermark"]
        self.seen.extend(body["activities"])
        return list(body["activities"])

    async def wait_for(self, done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """Poll (as DirectLineJS does without a WebSocket) until `done(all activities seen)` holds."""
        async with asyncio.timeout(HANG_GUARD):
            while True:
                await self.poll()
                if done(self.seen):
                    return list(self.seen)
                await asyncio.sleep(0.05)

    def bot_cards(self) -> list[tuple[str, dict[str, Any]]]:
        """(activity id, card) of every card the bot posted or updated, in arrival order."""
        return [
            (a["id"], card) for a in self.seen if a.get("from", {}).get("role") == "bot" for card in cards(a)
        ]


@pytest.fixture
async def web_bot(emulator: Any, tmp_path: Path) -> AsyncIterator[RunningBot]:
    """The whole bot on loopback (so the chat page and Direct Line are on), against the emulator."""
    bot = await start_bot(bot_settings(emulator, tmp_path, allow_local_files=True))
    try:
        yield bot
    finally:
        await bot.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def dl(web_bot: RunningBot, http: aiohttp.ClientSession) -> DirectLineClient:
    return DirectLineClient(http, web_bot.url)
