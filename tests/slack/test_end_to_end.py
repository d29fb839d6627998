"""Acceptance (issue 4): the whole bot (`bot.app.start_bot`, embedded emulator, real handlers, SQLite) answers
signed Slack requests; only the Slack Web API is a stand-in."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from bot.app import RunningBot
from bot.model import Conversation, User
from emulator import datasets
from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN, slack_bot
from tests.slack.fake_slack_api import BOT_USER_ID, FakeSlackApi
from tests.slack.signing import form_body, json_body, signed_headers

API = {"api-version": "2025-04-01-preview"}


@pytest.fixture
async def bot(slack_api: FakeSlackApi, emulator: Any, tmp_path: Path) -> AsyncIterator[RunningBot]:
    """The whole bot, its Azure side the emulator (clock moved by the test), its Slack side the stand-in."""
    async with slack_bot(emulator, tmp_path, slack_api) as running:
        yield running


async def _running_job(emulator: Any) -> str:
    async with httpx.AsyncClient(base_url=emulator.url, headers={"api-key": "k"}, params=API) as azure:
        content = datasets.path("good_training").read_bytes()
        uploaded = await azure.post(
            "/openai/files", data={"purpose": "fine-tune"}, files={"file": ("train.jsonl", content)}
        )
        assert uploaded.status_code == 201, uploaded.text
        emulator.advance(60)
        created = await azure.post(
            "/openai/fine_tuning/jobs",
            json={"model": "gpt-4o-mini-2024-07-18", "training_file": uploaded.json()["id"]},
        )
        assert created.status_code == 201, created.text
        job_id: str = created.json()["id"]
        emulator.advance(200)
        job = (await azure.get(f"/openai/fine_tuning/jobs/{job_id}")).json()
        assert job["status"] == "running", job
        return job_id


async def _slash(bot: RunningBot, text: str) -> int:
    body, content_type = form_body(payloads.slash_command(text))
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{bot.url}/slack/events", data=body.encode(), headers=signed_headers(body, content_type)
        )
        return resp.status


async def test_status_of_a_running_job_posts_its_card(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    job_id = await _running_job(emulator)
    # Started from this channel (as `start` records it): everybody here may see it.
    here = Conversation("slack", payloads.CHANNEL)
    await bot.store.record_job(
        job_id, resource="default", home=here, user=User(payloads.USER), model=None, status=None
    )
    assert await _slash(bot, f"status {job_id}") == 200
    (post,) = await slack_api.wait_for("chat.postMessage")
    await bot.adapters["slack"].drain()
    blocks = json.dumps(post.args["blocks"])
    assert job_id in blocks
    assert "running" in blocks.lower()
    assert post.args["channel"] == payloads.CHANNEL
    ref = await bot.store.find_message(f"job:{job_id}", f"slack:{payloads.CHANNEL}")
    assert ref is not None and ref.conversation_id == payloads.CHANNEL


async def test_nonsense_gets_a_usage_card(bot: RunningBot, slack_api: FakeSlackApi) -> None:
    assert await _slash(bot, "nonsense") == 200
    (ephemeral,) = await slack_api.wait_for("chat.postEphemeral")
    assert ephemeral.args["user"] == payloads.USER
    assert "nonsense" in json.dumps(ephemeral.args["blocks"])
    assert "/ft help" in json.dumps(ephemeral.args["blocks"])


MODEL = "gpt-4o-mini-2024-07-18"


def _jobs_created(emulator: Any) -> int:
    return int(emulator.state.counters["jobs.create"])


async def _job_card(slack_api: FakeSlackApi) -> dict[str, Any]:
    """The first posted card that is a job's status card (validation reports come before it)."""
    for _ in range(50):
        for call in slack_api.called("chat.postMessage"):
            if "ftjob-" in json.dumps(call.args["blocks"]) and "Refresh" in json.dumps(call.args["blocks"]):
                return call.args
        await slack_api.wait_for("chat.postMessage", len(slack_api.called("chat.postMessage")) + 1)
    raise AssertionError("no job card posted")


async def test_start_with_a_slack_file_id_starts_a_job(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    slack_api.share_file("F0GOOD0001", "train.jsonl", datasets.path("good_training").read_bytes())
    assert await _slash(bot, f"start {MODEL} --training F0GOOD0001 --suffix slack-1") == 200
    card = await _job_card(slack_api)
    assert card["channel"] == payloads.CHANNEL
    await bot.adapters["slack"].drain()
    assert _jobs_created(emulator) == 1
    (download,) = slack_api.called("download")
    assert download.authorization == f"Bearer {BOT_TOKEN}"


async def test_start_with_a_bad_slack_file_posts_the_report_and_starts_nothing(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    slack_api.share_file("F0BAD00001", "bad.jsonl", datasets.path("invalid_jsonl").read_bytes())
    link = "<https://acme.slack.com/files/U0USER0001/F0BAD00001/bad.jsonl|bad.jsonl>"
    assert await _slash(bot, f"start {MODEL} --training {link}") == 200
    await slack_api.wait_for("chat.postMessage")
    await bot.adapters["slack"].drain()
    report = json.dumps([c.args["blocks"] for c in slack_api.called("chat.postMessage")]).lower()
    assert "line" in report
    assert _jobs_created(emulator) == 0
    assert emulator.state.counters["files.upload"] == 0


async def test_start_through_a_mention_with_the_file_attached(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    content = datasets.path("good_training").read_bytes()
    slack_api.share_file("F0GOOD0002", "train.jsonl", content)
    shared = payloads.slack_file("F0GOOD0002", "train.jsonl", slack_api.url, size=len(content))
    mention = payloads.app_mention(f"<@{BOT_USER_ID}> start {MODEL}", files=[shared])
    body, content_type = json_body(payloads.event(mention, event_id="Ev0START001"))
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{bot.url}/slack/events", data=body.encode(), headers=signed_headers(body, content_type)
        )
        assert resp.status == 200
    await _job_card(slack_api)
    await bot.adapters["slack"].drain()
    assert _jobs_created(emulator) == 1
