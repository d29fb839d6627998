"""The start card's trained-token estimate guesses the epochs when none were given (the cookbook's rule);
Azure echoes `-1` and picks its own when training starts, which can differ. Once the job reports the
resolved `n_epochs`, the job's cards show Azure's value, and the trained tokens and illustrative cost are
worked out from it. Against the emulator (its `-1` defaults are resolved when the job starts)."""

from __future__ import annotations

import re
from typing import Any

import pytest

import bot.dataprep.validator
from bot.app import RunningBot
from bot.model import Action
from cards.jobs import REFRESH
from handlers.estimates import DataEstimate
from tests.handlers.test_jobs_flow import ALICE, CHANNEL, card_text, run

MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def local(running_bot: RunningBot) -> RunningBot:
    running_bot.ctx.local_files = True
    return running_bot


def _tokens(text: str) -> str:
    found = re.search(r"≈([0-9.]+[kMB]?) trained tokens \((\d+) epochs?", text)
    assert found, text
    return found.group(1)


async def test_cards_after_the_start_show_azures_epochs_not_the_guess(
    local: RunningBot, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # For this model the bot's guess is 3 epochs; Azure (the emulator) picks 4 for 24 examples.
    monkeypatch.setattr(bot.dataprep.validator, "default_epochs", lambda examples: 3)
    [started] = await run(local, f"start {MODEL} --training good_training")
    start_text = card_text(started)
    assert "(3 epochs, the usual default: Azure picks its own)" in start_text
    job_id = (started.card.key or "").removeprefix("job:")

    emulator.advance(400)  # training started: n_epochs resolved
    job = await local.ctx.azure.data().get_job(job_id)
    assert job.hyperparameters is not None and job.hyperparameters.n_epochs == 4

    [status] = await run(local, f"status {job_id}")
    text = card_text(status)
    assert "24 training examples checked" in text
    assert "(4 epochs, Azure's choice)" in text and "3 epochs" not in text, text
    assert "n_epochs=4" in text
    # The estimate is worked out from Azure's value: 4/3 of the guessed tokens, with its cost.
    guessed, resolved = _tokens(start_text), _tokens(text)
    assert guessed != resolved
    assert "for Global training (illustrative prices" in text  # at the price of the job's training type

    # The Refresh button of the start card draws the same.
    [refreshed] = await local.dispatcher.on_action(Action(REFRESH, {"job": job_id}, ALICE, CHANNEL, "slack"))
    assert "(4 epochs, Azure's choice)" in card_text(refreshed)


def test_the_estimate_follows_the_epochs_it_is_given() -> None:
    estimate = DataEstimate(24, None, 1650, 3, False, MODEL, "sft")
    assert estimate.line().startswith(
        "24 training examples checked · ≈5k trained tokens (3 epochs, the usual default: Azure picks its own)"
        " · ≈$"
    )
    assert "≈6.6k trained tokens (4 epochs, Azure's choice)" in estimate.line(4)
    given = DataEstimate(24, 10, 1650, 2, True, MODEL, "sft")
    assert given.line(2).startswith(
        "24 training + 10 validation examples checked · ≈3.3k trained tokens (2 epochs) ·"
    )
