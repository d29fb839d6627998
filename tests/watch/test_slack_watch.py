"""Acceptance (issue 10) on Slack: the whole bot (real Bolt over HTTP, real handlers, SQLite) with the
emulator in its own process and the stand-in Slack Web API counting what arrives."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import RunningBot, start_bot
from bot.config import Settings
from tests.slack.conftest import BOT_TOKEN, assert_all_valid
from tests.slack.fake_slack_api import FakeSlackApi
from tests.slack.signing import SIGNING_SECRET
from tests.watch.harness import (
    EmulatorProcess,
    alerts,
    alerts_by_job,
    create_job_with_sdk,
    create_jobs,
    emulator_process,
    event_lines,
    header,
    is_job_card,
    job_card_ts,
    slash,
    wait_until,
)


@pytest.fixture
async def emu() -> AsyncIterator[EmulatorProcess]:
    async with emulator_process(speed=100, max_running_jobs=10, max_queued_jobs=50) as running:
        yield running


def settings_for(emu: EmulatorProcess, slack: FakeSlackApi, tmp_path: Path, **more: Any) -> Settings:
    return Settings(
        azure_openai_endpoint=emu.url,
        azure_openai_api_key="test-key-not-secret",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        host="127.0.0.1",
        port=0,
        watch_interval=1.0,
        allow_local_files=True,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        **more,
    )


@pytest.fixture
async def bot(emu: EmulatorProcess, slack_api: FakeSlackApi, tmp_path: Path) -> AsyncIterator[RunningBot]:
    running = await start_bot(settings_for(emu, slack_api, tmp_path))
    try:
        yield running
    finally:
        await running.close()
    assert_all_valid(slack_api)


def started_job(slack: FakeSlackApi) -> str:
    for c in slack.posted():
        if is_job_card(c):
            found = header(c).split("Fine-tuning job ", 1)[-1].split()[0]
            return found
    return ""


async def test_a_started_job_streams_into_its_thread_updates_its_card_and_alerts_once(
    bot: RunningBot, slack_api: FakeSlackApi
) -> None:
    await slash(bot.url, "start gpt-4o-mini-2024-07-18 --training good_training")
    await wait_until(lambda: bool(started_job(slack_api)), 20, "the job card")
    job_id = started_job(slack_api)
    card_ts = job_card_ts(slack_api, job_id)
    await wait_until(lambda: alerts_by_job(slack_api)[job_id] >= 1, 40, "the success alert")
    await asyncio.sleep(2.5)  # a few more polls: nothing else may arrive for a finished job

    assert alerts_by_job(slack_api) == Counter({job_id: 1})
    (alert,) = alerts(slack_api)
    body = json.dumps(alert.args["blocks"])
    assert "succeeded" in header(alert) and ".ft-" in body and "Trained tokens" in body
    assert "Training cost (estimate)" in body and "ft1:job.checkpoints" in body and "ft1:job.events" in body
    assert "ft1:deploy.request" in body  # Deploy opens an approval request for the fine-tuned model
    # The loss chart and its verdict follow in the alert's thread, with the PNG uploaded there.
    await wait_until(lambda: bool(slack_api.called("files.completeUploadExternal")), 20, "the chart picture")
    in_alert_thread = [c for c in slack_api.posted() if c.args.get("thread_ts") == alert.result.get("ts")]
    assert any("overfitting" in json.dumps(c.args.get("blocks", [])).lower() for c in in_alert_thread)
    [upload] = slack_api.called("files.completeUploadExternal")
    assert upload.args.get("thread_ts") == alert.result.get("ts")

    lines = event_lines(slack_api)
    assert lines and all(thread == card_ts for thread, _ in lines)  # all in the job card's thread
    texts = [text for _, text in lines]
    assert len(texts) == len(set(texts)), "an event line was posted twice"
    assert any("Job started." in t for t in texts) and any("training loss=" in t for t in texts)
    assert any("succeeded" in t.lower() for t in texts)
    # One message per poll, not one per event.
    threaded = [c for c in slack_api.posted() if c.args.get("thread_ts")]
    assert len(threaded) < len(texts)

    updates = [c for c in slack_api.called("chat.update") if c.args.get("ts") == card_ts and not c.refused]
    assert updates, "the job card was never updated in place"
    assert "succeeded" in header(updates[-1])


async def test_rai_failures_post_their_own_notices(bot: RunningBot, slack_api: FakeSlackApi) -> None:
    await slash(bot.url, "start gpt-4o-mini-2024-07-18 --training rai_data_failure")
    await slash(bot.url, "start gpt-4o-mini-2024-07-18 --training rai_eval_failure")
    await wait_until(lambda: len(alerts(slack_api)) >= 2, 45, "two safety notices")
    titles = sorted(header(c) for c in alerts(slack_api))
    assert any("Training data rejected by the safety check" in t for t in titles), titles
    assert any("failed the safety evaluation" in t for t in titles), titles
    texts = {header(c): json.dumps(c.args["blocks"]) for c in alerts(slack_api)}
    data = next(v for k, v in texts.items() if "rejected" in k)
    evaluation = next(v for k, v in texts.items() if "evaluation" in k)
    assert "hate and fairness" in data and "self-harm" in data and "nothing was trained" in data
    assert "violence" in evaluation and "keeps no deployable model" in evaluation
    assert "/ft validate" in data and "/ft validate" in evaluation


async def test_a_job_started_with_the_sdk_reaches_a_subscribed_channel(
    bot: RunningBot, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    await slash(bot.url, "subscribe", channel="C0SUBS0001")
    await wait_until(lambda: any("Subscribed" in header(c) for c in slack_api.posted()), 10, "the answer")
    job_id = await asyncio.to_thread(create_job_with_sdk, emu.url)
    await wait_until(lambda: alerts_by_job(slack_api)[job_id] >= 1, 40, "the alert in the subscribed channel")
    await asyncio.sleep(2)
    (alert,) = alerts(slack_api)
    assert alert.args["channel"] == "C0SUBS0001" and "succeeded" in header(alert)
    assert not event_lines(slack_api)  # subscribers get the ending only
    await slash(bot.url, "subscriptions", channel="C0SUBS0001")
    await wait_until(
        lambda: any(header(c).startswith("Subscriptions") for c in slack_api.posted()), 10, "list"
    )


async def test_everything_arrives_once_through_azure_faults_and_slack_throttling(
    bot: RunningBot, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    jobs = await create_jobs(emu.url, 5)
    for job_id in jobs:
        await slash(bot.url, f"watch {job_id}")
    await wait_until(lambda: sum(is_job_card(c) for c in slack_api.posted()) >= 5, 20, "five job cards")
    await emu.faults(throttle=0.1, error=0.1, retry_after=1)
    slack_api.rate_limit_share(0.1, retry_after=1)

    await wait_until(lambda: set(alerts_by_job(slack_api)) >= set(jobs), 60, "five alerts through the faults")
    await asyncio.sleep(3)
    await emu.clear_faults()
    assert alerts_by_job(slack_api) == Counter(dict.fromkeys(jobs, 1))
    lines = event_lines(slack_api)
    assert len(lines) == len(set(lines)), "an event line was posted twice"
    per_thread = Counter(thread for thread, _ in lines)
    assert len(per_thread) == 5
    assert slack_api.throttled > 0
    state = await emu.admin("GET", "state")
    assert state["faults"], "the emulator's faults were on"


async def test_a_post_whose_answer_is_lost_is_found_not_posted_again(
    bot: RunningBot, slack_api: FakeSlackApi, emu: EmulatorProcess
) -> None:
    """Slack took an outbox post but the connection dropped before its answer: no blind retry; the row
    stays `sending`, and the next attempt finds the message by its metadata key and records it as sent."""
    slack_api.lose_answer_next("chat.postMessage", tagged=True)
    (job_id,) = await create_jobs(emu.url, 1)
    await slash(bot.url, f"watch {job_id}")
    await wait_until(lambda: alerts_by_job(slack_api)[job_id] >= 1, 40, "the success alert")
    await asyncio.sleep(2.5)
    (lost,) = [c for c in slack_api.posted() if c.answer_lost]
    key = lost.args["metadata"]["event_payload"]["key"]
    tagged = [
        c.args["metadata"]["event_payload"]["key"] for c in slack_api.posted() if c.args.get("metadata")
    ]
    assert tagged.count(key) == 1 and len(tagged) == len(set(tagged))
    assert slack_api.called("conversations.history") or slack_api.called("conversations.replies")
    assert alerts_by_job(slack_api) == Counter({job_id: 1})
    lines = event_lines(slack_api)
    assert len(lines) == len(set(lines)), "an event line was posted twice"
    assert {r["status"] for r in await bot.ctx.store.outbox_rows()} == {"sent"}
