"""`/ft start` says at once, privately, what it is checking and how big it is, and how far a slow download
got, instead of leaving the person in silence until the job card arrives. The whole bot over HTTP (real
Bolt, real handlers, SQLite), the emulator for Azure, the stand-in Slack Web API (its `response_url` posts
recorded in order with everything else)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import handlers.progress
from bot.app import RunningBot
from emulator import datasets
from tests.slack import payloads
from tests.slack.conftest import slack_bot
from tests.slack.fake_slack_api import Call, FakeSlackApi
from tests.slack.signing import form_body, json_body, signed_headers
from tests.watch.harness import is_job_card, wait_until

MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
async def bot(slack_api: FakeSlackApi, emulator: Any, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with slack_bot(emulator, tmp_path, slack_api) as running:
        yield running


async def _post(bot: RunningBot, body: str, content_type: str) -> None:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{bot.url}/slack/events", data=body.encode(), headers=signed_headers(body, content_type)
        )
        assert resp.status == 200


def _text(call: Call) -> str:
    return json.dumps(call.args.get("blocks") or []) + str(call.args.get("text") or "")


def _job_card_index(slack: FakeSlackApi) -> int:
    return next(
        (i for i, c in enumerate(slack.calls) if c.method == "chat.postMessage" and is_job_card(c)), -1
    )


async def test_start_shows_a_private_checking_line_with_the_size_before_the_job_card(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    content = datasets.path("good_training").read_bytes()
    slack_api.share_file("F0GOOD0001", "train.jsonl", content)
    body, content_type = form_body(
        payloads.slash_command(
            f"start {MODEL} --training F0GOOD0001", response_url=slack_api.response_url("s")
        )
    )
    await _post(bot, body, content_type)
    await wait_until(lambda: _job_card_index(slack_api) >= 0, 20, "the job card")
    await bot.adapters["slack"].drain()

    lines = [(i, c) for i, c in enumerate(slack_api.calls) if c.method == "response_url"]
    assert lines, "no progress line"
    first_at, first = lines[0]
    assert first_at < _job_card_index(slack_api)
    assert first.args["response_type"] == "ephemeral" and not first.args.get("replace_original")
    size_kb = round(len(content) / 1024)
    assert f"Checking `train.jsonl` ({size_kb} KB)" in _text(first), _text(first)
    # Once the answer is out the progress line goes away, and it never reached the channel.
    assert lines[-1][1].args.get("delete_original") is True
    assert not any("Checking" in _text(c) for c in slack_api.called("chat.postMessage"))


async def test_a_slow_download_reports_its_progress_in_the_same_line(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers.progress, "EVERY", 0.2)  # seconds between lines (5 in use)
    content = datasets.path("good_training").read_bytes()
    shared = slack_api.share_file("F0SLOW0001", "slow.jsonl", content)

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/jsonl"})
        await response.prepare(request)
        quarter = len(content) // 4 + 1
        for start in range(0, len(content), quarter):
            await response.write(content[start : start + quarter])
            await asyncio.sleep(0.3)
        await response.write_eof()
        return response

    shared.serve = trickle
    body, content_type = form_body(
        payloads.slash_command(
            f"start {MODEL} --training F0SLOW0001", response_url=slack_api.response_url("t")
        )
    )
    await _post(bot, body, content_type)
    await wait_until(lambda: _job_card_index(slack_api) >= 0, 20, "the job card")
    await bot.adapters["slack"].drain()

    lines = [c for c in slack_api.calls if c.method == "response_url"]
    shown = [_text(c) for c in lines if not c.args.get("delete_original")]
    assert "Checking `slow.jsonl`" in shown[0]
    assert any("Downloading `slow.jsonl`" in t and "%" in t for t in shown[1:]), shown
    # Later lines replace the first one in place (one line moving on, not a pile of lines).
    assert all(c.args.get("replace_original") is True for c in lines[1:] if not c.args.get("delete_original"))
    assert len(lines) <= 4  # Slack takes 5 posts per response_url; one stays for the answer


async def test_a_mention_without_a_response_url_gets_an_ephemeral_line(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    content = datasets.path("good_training").read_bytes()
    slack_api.share_file("F0GOOD0002", "train.jsonl", content)
    shared = payloads.slack_file("F0GOOD0002", "train.jsonl", slack_api.url, size=len(content))
    mention = payloads.app_mention(f"<@UBOT00001> start {MODEL}", files=[shared])
    await _post(bot, *json_body(payloads.event(mention, event_id="Ev0PROGRESS1")))
    await wait_until(lambda: _job_card_index(slack_api) >= 0, 20, "the job card")
    await bot.adapters["slack"].drain()
    ephemeral = [(i, c) for i, c in enumerate(slack_api.calls) if c.method == "chat.postEphemeral"]
    assert ephemeral and ephemeral[0][0] < _job_card_index(slack_api)
    assert ephemeral[0][1].args["user"] == payloads.USER
    assert "Checking `train.jsonl`" in _text(ephemeral[0][1]) and "KB)" in _text(ephemeral[0][1])
