"""The bot against the emulator as Azure really answers: progress without a step total, and an api-version
Azure no longer serves named in the error card with one that works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.app import RunningBot, start_bot
from bot.config import DEFAULT_DATA_API_VERSION
from emulator import datasets
from handlers import jobs as job_handlers
from tests.conftest import bot_settings
from tests.handlers.test_jobs_flow import card_text, run, started_here


async def test_status_counts_the_training_file_and_shows_the_step_total(
    running_bot: RunningBot, emulator: Any
) -> None:
    job_handlers._EXAMPLES.clear()
    emulator.state.clock.set_speed(0)  # time moves only when told: the step shown is exact
    client = running_bot.ctx.azure.data()
    train = await client.upload_file(datasets.path("good_training"))
    emulator.advance(60)
    job = await client.create_job("gpt-4o-mini-2024-07-18", train.id, seed=105)
    await started_here(running_bot, job.id)
    emulator.advance(30 + 120 + 41 * 7.5)  # queue, set-up, then 41 steps: the newest metrics event is step 40
    [reply] = await run(running_bot, f"status {job.id}")
    text = card_text(reply)
    # 24 examples, batch 1, 4 epochs (chosen at start) -> 96 steps; Azure itself sends no total.
    assert "41% (step 40/96)" in text, text
    assert job_handlers._EXAMPLES[train.id] == 24  # counted once from the file


async def test_a_retired_api_version_is_named_with_one_that_works(emulator: Any, tmp_path: Path) -> None:
    bot = await start_bot(bot_settings(emulator, tmp_path, azure_api_version="2023-12-01-preview"))
    try:
        # Any call reaches Azure's refusal; `status` of an unknown job asks Azure at once.
        [reply] = await run(bot, "status ftjob-0123456789abcdef0123456789abcdef")
    finally:
        await bot.close()
    text = card_text(reply)
    assert "API version not supported" in text
    assert "`FTBOT_AZURE_API_VERSION`" in text and f"`{DEFAULT_DATA_API_VERSION}`" in text
