"""Helpers for the start-safety tests (issue 8): users with data of their own, signed Slack slash commands
to a bot over HTTP, what the stand-in Slack API heard per channel, and what is left in Azure."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiohttp

from bot.azure.retry import RetryPolicy
from emulator import datasets
from tests.slack import payloads
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.signing import form_body, signed_headers

MODEL = "gpt-4o-mini-2024-07-18"
BASE = datasets.path("good_training").read_bytes()
MARK = b"Contoso"  # 24 times in the good set: a user's tag of the same length makes same-size data


def user_data(tag: str) -> bytes:
    """The good training set with every `Contoso` replaced by `tag` (7 characters): valid, the same size
    as every other user's, and recognisably this user's."""
    assert len(tag) == len(MARK), tag
    return BASE.replace(MARK, tag.encode())


def owner_of(content: bytes) -> str | None:
    """Whose data this is (the tag it carries), or None if it is nobody's."""
    start = BASE.index(MARK)
    tag = content[start : start + len(MARK)].decode(errors="replace")
    return tag if user_data(tag) == content else None


def fast_retries(client: Any) -> None:
    """The bot's Azure client with short backoffs (the tests inject faults on purpose)."""
    client._transport.retry = replace(RetryPolicy(), base_delay=0.02, max_delay=0.1, max_total_seconds=10)


async def slash(bot_url: str, text: str, *, user: str, channel: str, name: str = "") -> int:
    """A signed `/ft <text>` from `user` in `channel`, as Slack sends it."""
    fields = payloads.slash_command(text, channel=channel)
    fields.update(user_id=user, user_name=name or user.lower())
    body, content_type = form_body(fields)
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{bot_url}/slack/events", data=body.encode(), headers=signed_headers(body, content_type)
        )
        return response.status


def heard(slack: FakeSlackApi, channel: str) -> list[str]:
    """Every message the bot posted in `channel` (posted, private or updated), as searchable text; the
    private progress lines shown while it works ("⏳ Checking ...") are not answers and are left out."""
    return [
        json.dumps(args.get("blocks")) + " " + str(args.get("text", ""))
        for args in slack.messages()
        if args.get("channel") == channel and not is_progress_line(args)
    ]


def is_progress_line(message: dict[str, Any]) -> bool:
    blocks = message.get("blocks") or []
    return (
        len(blocks) == 1
        and blocks[0].get("type") == "context"
        and str(message.get("text", "")).startswith("⏳")
    )


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], *, within: float = 20.0, what: str = ""
) -> None:
    """Wait until `check()` holds (a bound on a hang, not a performance assertion)."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:g} s: {what}")
        await asyncio.sleep(0.05)


def azure_files(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Files in the emulator's default account, from `GET /_emulator/state` (or `state.summary()`)."""
    account = next(iter(state["accounts"].values()))
    return dict(account["files"])


def azure_jobs(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    account = next(iter(state["accounts"].values()))
    return dict(account["jobs"])


class Azure:
    """The emulator's data plane, read the way a person checking on the bot would (plain HTTP)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _client(self) -> Any:
        import httpx

        return httpx.AsyncClient(
            base_url=self.url, headers={"api-key": "k"}, params={"api-version": "2025-04-01-preview"}
        )

    async def files(self) -> list[dict[str, Any]]:
        """Training files (results files of finished jobs left out)."""
        async with self._client() as http:
            data = (await http.get("/openai/files")).json()["data"]
        return [f for f in data if f.get("purpose") == "fine-tune"]

    async def jobs(self) -> list[dict[str, Any]]:
        async with self._client() as http:
            return list((await http.get("/openai/fine_tuning/jobs", params={"limit": 100})).json()["data"])

    async def content(self, file_id: str) -> bytes:
        async with self._client() as http:
            return (await http.get(f"/openai/files/{file_id}/content")).content

    async def faults(self, surface: str = "dataplane", **spec: Any) -> None:
        async with self._client() as http:
            response = await http.put(f"/_emulator/faults/{surface}", json=spec)
            response.raise_for_status()

    async def clear_faults(self) -> None:
        async with self._client() as http:
            (await http.delete("/_emulator/faults")).raise_for_status()

    async def state(self) -> dict[str, Any]:
        async with self._client() as http:
            return dict((await http.get("/_emulator/state")).json())
