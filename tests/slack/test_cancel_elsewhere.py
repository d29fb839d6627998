"""`/ft cancel --yes` typed in another channel than the job's: the job's own card (in its home channel) loses
its live Cancel button too, not only the answer in the channel where cancel was typed. The whole bot over
HTTP (real Bolt, real handlers, SQLite), the emulator for Azure, the stand-in Slack Web API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import RunningBot
from cards.jobs import CANCEL
from tests.slack.conftest import slack_bot
from tests.slack.fake_slack_api import FakeSlackApi
from tests.watch.harness import header, is_job_card, job_card_ts, slash, wait_until

HOME = "C0CHAN0001"  # where the job is started (payloads.CHANNEL: the test user's files are shared there)
ELSEWHERE = "C0OTHER001"
MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
async def bot(slack_api: FakeSlackApi, emulator: Any, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with slack_bot(
        emulator, tmp_path, slack_api, allow_local_files=True, watch_interval=1.0
    ) as running:
        yield running


def _started_job(slack: FakeSlackApi) -> str:
    for c in slack.posted():
        if is_job_card(c) and c.args.get("channel") == HOME:
            return header(c).split("Fine-tuning job ", 1)[-1].split()[0]
    return ""


def _has_cancel(call: Any) -> bool:
    return f"ft1:{CANCEL}" in json.dumps(call.args.get("blocks") or [])


async def test_cancel_from_another_channel_takes_the_cancel_button_off_the_home_card(
    bot: RunningBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    await slash(bot.url, f"start {MODEL} --training good_training", channel=HOME)
    await wait_until(lambda: bool(_started_job(slack_api)), 20, "the job card")
    job_id = _started_job(slack_api)
    home_ts = job_card_ts(slack_api, job_id)
    home_card = next(c for c in slack_api.posted() if c.result.get("ts") == home_ts)
    assert _has_cancel(home_card)

    await slash(bot.url, f"cancel {job_id} --yes", channel=ELSEWHERE)

    def home_updated_without_cancel() -> bool:
        updates = [
            c
            for c in slack_api.called("chat.update")
            if c.args.get("channel") == HOME and c.args.get("ts") == home_ts and not c.refused
        ]
        return bool(updates) and not _has_cancel(updates[-1])

    await wait_until(home_updated_without_cancel, 15, "the home card updated without its Cancel button")
    final = [c for c in slack_api.called("chat.update") if c.args.get("ts") == home_ts][-1]
    assert "cancel" in header(final).lower()
    await bot.adapters["slack"].drain()
