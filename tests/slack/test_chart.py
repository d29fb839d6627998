"""Acceptance (issue 12), Slack: `chart <job>` posts the native chart card and uploads the PNG with the
external upload flow into the right channel and thread. The whole bot against the emulator; only the Slack
Web API is a stand-in."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from bot.app import RunningBot
from cards.jobs import CHART
from cards.payload import pack_slack
from tests.charts.azure_jobs import finished_job
from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN, slack_bot
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.signing import form_body, interactive_body, signed_headers


@pytest.fixture
async def bot(slack_api: FakeSlackApi, emulator: Any, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with slack_bot(emulator, tmp_path, slack_api) as running:
        yield running


async def _post(bot: RunningBot, body: str, content_type: str) -> int:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{bot.url}/slack/events", data=body.encode(), headers=signed_headers(body, content_type)
        )
        return resp.status


def _methods(slack_api: FakeSlackApi) -> list[str]:
    return [c.method for c in slack_api.calls]


async def test_chart_command_posts_the_card_then_uploads_the_png_into_its_thread(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    job_id = await finished_job(emulator)
    assert await _post(bot, *form_body(payloads.slash_command(f"chart {job_id} --metric both"))) == 200
    (complete,) = await slack_api.wait_for("files.completeUploadExternal")
    await bot.adapters["slack"].drain()

    (card,) = slack_api.called("chat.postMessage")
    kinds = [b["type"] for b in card.args["blocks"]]
    assert kinds.count("data_visualization") == 2 and kinds.count("table") == 1
    assert "Checkpoint to deploy" in card.args["text"] and "overfitting" in card.args["text"]

    # The three steps, in order, and nothing of the retired files.upload.
    methods = _methods(slack_api)
    assert "files.upload" not in methods
    step = [
        methods.index(m) for m in ("files.getUploadURLExternal", "upload", "files.completeUploadExternal")
    ]
    assert step == sorted(step) and methods.index("chat.postMessage") < step[0]
    (ask,) = slack_api.called("files.getUploadURLExternal")
    (upload,) = slack_api.called("upload")
    png = slack_api.uploads[upload.args["file_id"]]
    assert (
        ask.args["filename"].endswith(".png") and int(ask.args["length"]) == len(png) == upload.args["bytes"]
    )
    assert ask.args["alt_txt"].startswith("Line chart of training")
    assert Image.open(io.BytesIO(png)).size == (1200, 1050)
    assert ask.authorization == complete.authorization == f"Bearer {BOT_TOKEN}"

    # Into the channel of the command, in the thread under the chart card.
    assert "thread_ts" not in card.args or not card.args["thread_ts"]
    assert complete.args["channel_id"] == payloads.CHANNEL
    assert complete.args["thread_ts"] == card.response["ts"]
    assert complete.response["ok"] is True
    assert json.loads(complete.args["files"]) == [
        {"id": upload.args["file_id"], "title": f"Training chart · {job_id}"}
    ]


async def test_chart_button_answers_in_the_thread_of_the_clicked_card(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    job_id = await finished_job(emulator, validation=False)
    packed = pack_slack(CHART, {"job": job_id})
    click = payloads.block_actions(packed.action_id, packed.value, message_ts="1700000000.000777")
    assert await _post(bot, *interactive_body(click)) == 200
    (complete,) = await slack_api.wait_for("files.completeUploadExternal")
    await bot.adapters["slack"].drain()
    (card,) = slack_api.called("chat.postMessage")
    assert card.args["thread_ts"] == "1700000000.000777"
    assert "No validation data: cannot judge overfitting." in card.args["text"]
    assert complete.args["channel_id"] == payloads.CHANNEL
    assert complete.args["thread_ts"] == "1700000000.000777"


async def test_a_workspace_without_chart_blocks_gets_the_card_without_them(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    job_id = await finished_job(emulator)
    slack_api.fail_next("chat.postMessage", "invalid_blocks")
    assert await _post(bot, *form_body(payloads.slash_command(f"chart {job_id}"))) == 200
    await slack_api.wait_for("files.completeUploadExternal")
    await bot.adapters["slack"].drain()
    refused, posted = slack_api.called("chat.postMessage")
    assert any(b["type"] == "data_visualization" for b in refused.args["blocks"])
    assert not any(b["type"] in ("data_visualization", "table") for b in posted.args["blocks"])
    assert "Checkpoint to deploy" in json.dumps(posted.args["blocks"])
