"""A job's cards never keep a live Cancel button once the job is cancelled: `/ft cancel --yes` typed in
another channel updates the job's card in its home channel at once, and the watcher updates every stored
card of a job on a status change (a quiet home channel too, not only channels that stream its events).
The whole bot over HTTP (real Bolt, real handlers, SQLite), the emulator for Azure, the stand-in Slack Web API.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from bot.azure.models import FineTuningJob
from bot.store.base import utcnow
from cards.jobs import CANCEL
from handlers.watch import Target, WatchState, poll_step
from tests.slack.conftest import slack_bot
from tests.slack.fake_slack_api import Call, FakeSlackApi
from tests.watch.harness import header, is_job_card, job_card_ts, slash, wait_until

HOME = "C0CHAN0001"  # where the job is started (payloads.CHANNEL: the test user's files are shared there)
ELSEWHERE = "C0OTHER001"
MODEL = "gpt-4o-mini-2024-07-18"
API = {"api-version": "2025-04-01-preview"}


def _started_job(slack: FakeSlackApi) -> str:
    for c in slack.posted():
        if is_job_card(c) and c.args.get("channel") == HOME:
            return header(c).split("Fine-tuning job ", 1)[-1].split()[0]
    return ""


def _has_cancel(call: Call) -> bool:
    return f"ft1:{CANCEL}" in json.dumps(call.args.get("blocks") or [])


def _home_updates(slack: FakeSlackApi, ts: str) -> list[Call]:
    return [
        c
        for c in slack.called("chat.update")
        if c.args.get("channel") == HOME and c.args.get("ts") == ts and not c.refused
    ]


async def _start_in_home(bot_url: str, slack: FakeSlackApi) -> tuple[str, str]:
    await slash(bot_url, f"start {MODEL} --training good_training", channel=HOME)
    await wait_until(lambda: bool(_started_job(slack)), 20, "the job card")
    job_id = _started_job(slack)
    home_ts = job_card_ts(slack, job_id)
    assert _has_cancel(next(c for c in slack.posted() if c.result.get("ts") == home_ts))
    return job_id, home_ts


async def test_cancel_typed_in_another_channel_takes_the_cancel_button_off_the_home_card_at_once(
    slack_api: FakeSlackApi, emulator: Any, tmp_path: Path
) -> None:
    # The watcher looks only every 10 minutes here: the home card must not wait for it.
    async with slack_bot(emulator, tmp_path, slack_api, allow_local_files=True, watch_interval=600.0) as bot:
        job_id, home_ts = await _start_in_home(bot.url, slack_api)
        before = utcnow()
        await slash(bot.url, f"cancel {job_id} --yes", channel=ELSEWHERE)

        def updated() -> bool:
            updates = _home_updates(slack_api, home_ts)
            return bool(updates) and not _has_cancel(updates[-1])

        await wait_until(updated, 10, "the home card updated without its Cancel button")
        # The home card now shows news as of the cancel: a watcher's update queued before it is older.
        for _ in range(50):
            shown = await bot.store.find_card(f"job:{job_id}", f"slack:{HOME}")
            if shown is not None and shown[1] >= before:
                break
            await asyncio.sleep(0.05)
        assert shown is not None and shown[0].message_id == home_ts and shown[1] >= before
        final = _home_updates(slack_api, home_ts)[-1]
        assert "cancel" in header(final).lower() and "Cancel requested by ada" in json.dumps(final.args)
        # The answer in the other channel is its own card, without a Cancel button either.
        [answer] = [c for c in slack_api.posted() if c.args.get("channel") == ELSEWHERE]
        assert is_job_card(answer) and not _has_cancel(answer)
        await bot.adapters["slack"].drain()


async def test_the_watcher_updates_the_card_in_a_quiet_home_channel_when_the_job_is_cancelled(
    slack_api: FakeSlackApi, emulator: Any, tmp_path: Path
) -> None:
    async with slack_bot(emulator, tmp_path, slack_api, allow_local_files=True, watch_interval=0.5) as bot:
        await slash(bot.url, "quiet on", channel=HOME)  # the home hears only the final alert, no events
        job_id, home_ts = await _start_in_home(bot.url, slack_api)
        # Cancelled outside chat (the portal, a script): only the watcher can tell.
        async with httpx.AsyncClient(base_url=emulator.url, headers={"api-key": "k"}, params=API) as azure:
            cancelled = await azure.post(f"/openai/fine_tuning/jobs/{job_id}/cancel")
            assert cancelled.status_code == 200, cancelled.text

        def updated() -> bool:
            updates = _home_updates(slack_api, home_ts)
            return bool(updates) and not _has_cancel(updates[-1])

        await wait_until(updated, 15, "the quiet home's card updated without its Cancel button")
        assert "cancel" in header(_home_updates(slack_api, home_ts)[-1]).lower()
        await bot.adapters["slack"].drain()


def _job(status: str) -> FineTuningJob:
    return FineTuningJob.model_validate(
        {
            "id": "ftjob-1",
            "object": "fine_tuning.job",
            "model": MODEL,
            "status": status,
            "created_at": 1764160000,
        }
    )


def test_a_status_change_updates_the_card_wherever_it_is_shown_and_progress_only_where_streamed() -> None:
    home, elsewhere = "slack:C1", "slack:C2"
    changed = poll_step(
        WatchState(status="running"),
        None,
        _job("cancelled"),
        [],
        [Target(home, stream=True)],
        now=1764160000.0,
        interval=30.0,
        holders=[home, elsewhere],
    )
    updates = sorted(q.conversation_key for q in changed.queued if q.payload["op"] == "update")
    assert updates == [home, elsewhere]
    same = poll_step(
        WatchState(status="running"),
        None,
        _job("running"),
        [],
        [Target(home, stream=True)],
        now=1764160000.0,
        interval=30.0,
        holders=[home, elsewhere],
    )
    assert not [q for q in same.queued if q.payload["op"] == "update"]
