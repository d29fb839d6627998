"""Issue 8: the bot killed at the worst moments of a `start`, then started again on the same SQLite file.

The bot runs as a subprocess against the emulator in a process of its own; the moment is chosen with an
emulator fault that holds Azure's reply back after the work is done (`latency_after_ms`), and by watching the
emulator's counters. After the restart: no file left in Azure that no job uses, no job the bot does not know,
and the user (the stand-in Slack API) is told what happened, once."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store.intents import CREATED, FAILED
from tests.chaos.harness import BotProcess, emulator_process
from tests.slack.conftest import BOT_TOKEN
from tests.slack.fake_slack_api import FakeSlackApi
from tests.start_support import MODEL, Azure, eventually, heard, owner_of, slash, user_data

USER, CHANNEL = "U0ALICE001", "C0ALICE001"
SETTINGS = {"reconcile_interval": "0.5", "start_settle": "1"}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[BotProcess, Azure, FakeSlackApi]]:
    async with emulator_process(tmp_path) as azure_url, FakeSlackApi(token=BOT_TOKEN) as slack:
        bot = BotProcess(tmp_path, azure_url, slack.api_url, **SETTINGS)
        await bot.start()
        try:
            yield bot, Azure(azure_url), slack
        finally:
            await bot.stop()
        assert "Traceback" not in bot.logs()


async def _start_and_wait(bot: BotProcess, azure: Azure, slack: FakeSlackApi, counter: str) -> None:
    slack.share_file("F0ALICE001", "train.jsonl", user_data("AliceCo"), user=USER, channels=(CHANNEL,))
    assert await slash(bot.url, f"start {MODEL} --training F0ALICE001", user=USER, channel=CHANNEL) == 200

    async def done() -> bool:
        return int((await azure.state())["counters"].get(counter, 0)) >= 1

    await eventually(done, what=f"Azure counted {counter}")


@pytest.mark.slow
async def test_kill_after_the_upload_leaves_no_file_and_the_user_hears_no_job_started(
    world: tuple[BotProcess, Azure, FakeSlackApi],
) -> None:
    bot, azure, slack = world
    await azure.faults(only=r"^POST .*/files$", latency_after_ms=60_000)  # stored; the reply never arrives
    await _start_and_wait(bot, azure, slack, "files.upload")
    assert len(await azure.files()) == 1
    await bot.kill(signal.SIGKILL)
    await azure.clear_faults()
    await bot.start()

    async def settled() -> bool:
        return bool(heard(slack, CHANNEL)) and await azure.files() == []

    await eventually(settled, within=30, what="the upload swept and the user told")
    [told] = heard(slack, CHANNEL)
    assert "The start did not happen" in told and "No job was started" in told
    assert await azure.jobs() == []
    async with bot.store() as store:
        await eventually(lambda: _all_in(store, FAILED), what="the intent closed")
        assert await store.pending_deletions() == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
async def test_stopped_after_the_create_the_job_is_recorded_and_announced(
    world: tuple[BotProcess, Azure, FakeSlackApi], sig: int
) -> None:
    """Azure created the job; the bot dies (kill -9) or shuts down (SIGTERM: the start is cancelled after
    the grace period) before it hears so. At restart the job is found by its unique training file."""
    bot, azure, slack = world
    await azure.faults(only=r"^POST .*/fine_tuning/jobs$", latency_after_ms=60_000)
    await _start_and_wait(bot, azure, slack, "jobs.created")
    code = await bot.kill(sig)
    if sig == signal.SIGTERM:
        assert code == 0
    await azure.clear_faults()
    assert heard(slack, CHANNEL) == []  # nobody was told anything yet
    await bot.start()
    await eventually(lambda: bool(heard(slack, CHANNEL)), within=30, what="the user told")
    [job] = await azure.jobs()
    [told] = heard(slack, CHANNEL)
    assert job["id"] in told
    [kept] = await azure.files()
    assert kept["id"] == job["training_file"] and owner_of(await azure.content(kept["id"])) == "AliceCo"
    async with bot.store() as store:
        stored = await store.get_job(job["id"])
        assert stored is not None and stored.home_conversation == f"slack:{CHANNEL}" and stored.watch
        assert stored.requested_by == USER
        assert [i.state for i in await store.intents()] == [CREATED]


async def _all_in(store: object, state: str) -> bool:
    from bot.store import Store

    assert isinstance(store, Store)
    return all(i.state == state for i in await store.intents())
