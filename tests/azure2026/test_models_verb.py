"""`models [--resource R]` against the emulator: its catalogue and fine-tuned models, from `GET /openai/models`
or, where the resource does not answer it, from the bundled catalogue and the resource's jobs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from yarl import URL

from bot.app import RunningBot, start_bot
from cards.model import Tone
from cards.models import BaseModelRow, FineTunedRow, ModelsView, models_card, retirement_text, retiring_soon
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from emulator import catalog
from tests.azure2026.recording import recording_proxy
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks
from tests.conftest import bot_settings
from tests.handlers.test_jobs_flow import run, started_job


def _today(emu: Any) -> date:
    return datetime.fromtimestamp(emu.state.now(), UTC).date()


def _rows(card: Any, title: str) -> dict[str, tuple[str, ...]]:
    [table] = [t for t in card.tables if t.title == title]
    return {row[0].split("`")[1]: row for row in table.rows}


async def test_models_from_the_service_with_a_fine_tuned_one(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await started_job(running_bot, emulator)
    emulator.advance(3 * 3600)
    [reply] = await run(running_bot, "models")
    card = reply.card
    assert "own model list" in card.text
    bases = _rows(card, "Fine-tunable base models")
    # Every model the emulator offers for fine-tuning, no retired one.
    assert set(bases) == {m.name for m in catalog.offered()}
    today = _today(emulator)
    mini = bases["gpt-4o-mini-2024-07-18"]
    assert (
        mini[1] == "supervised" and mini[2] == "standard, datazone, global, developer" and mini[3] == "65,536"
    )
    assert mini[4] == retirement_text(date(2026, 10, 1), today)
    assert bases["gpt-4o-2024-08-06"][1] == "supervised, dpo"
    assert bases["o4-mini-2025-04-16"][1:3] == ("reinforcement", "standard, datazone, global")
    assert "(by invitation)" in next(r[0] for name, r in bases.items() if name.startswith("gpt-5"))
    job = await running_bot.ctx.azure.data().get_job(job_id)
    assert job.fine_tuned_model
    tuned = _rows(card, "Fine-tuned models")
    assert tuned[job.fine_tuned_model][1:3] == ("gpt-4o-mini-2024-07-18", job_id)
    # Retirement flags follow the emulator's clock: a base model within 60 days (or past) is flagged.
    flagged = retiring_soon(date(2026, 10, 1), today)
    assert ("⚠" in mini[4]) is flagged
    assert (card.tone is Tone.WARNING) is any("⚠" in r[-1] for r in (*bases.values(), *tuned.values()))


async def test_a_resource_without_the_models_route_falls_back_to_the_catalogue(
    emulator: Any, tmp_path: Path
) -> None:
    seen: list[tuple[str, URL]] = []
    async with recording_proxy(emulator.url, seen, refuse=lambda path: path.endswith("/models")) as proxy:
        bot = await start_bot(bot_settings(emulator, tmp_path, azure_openai_endpoint=proxy))
        try:
            job_id = await started_job(bot, emulator)
            emulator.advance(3 * 3600)
            [reply] = await run(bot, "models")
            job = await bot.ctx.azure.data().get_job(job_id)
        finally:
            await bot.close()
    assert any(u.path.endswith("/models") for _, u in seen), "the service was asked first"
    card = reply.card
    assert "bot's catalogue (dated 2026-03-05)" in card.text
    bases = _rows(card, "Fine-tunable base models")
    assert {"gpt-4o-mini", "gpt-4.1", "o4-mini", "gpt-5-2025-08-07"} <= set(bases)
    assert not {"gpt-35-turbo", "babbage-002", "gpt-4"} & set(bases)
    assert job.fine_tuned_model
    tuned = _rows(card, "Fine-tuned models")
    assert tuned[job.fine_tuned_model][2] == job_id
    assert (
        tuned[job.fine_tuned_model][3].endswith("2027-10-01")
        or "2027-10-01" in tuned[job.fine_tuned_model][3]
    )


def test_retiring_within_60_days_is_flagged_on_both_platforms() -> None:
    today = date(2026, 8, 10)
    view = ModelsView(
        resource="default",
        today=today,
        bases=(
            BaseModelRow("soon", ("supervised",), ("global",), 65_536, date(2026, 10, 1)),  # 52 days
            BaseModelRow("edge", ("supervised",), ("global",), 65_536, date(2026, 10, 9)),  # 60 days
            BaseModelRow("later", ("supervised",), ("global",), 65_536, date(2026, 10, 10)),  # 61 days
            BaseModelRow("gone", ("supervised",), ("global",), None, date(2026, 8, 1)),
            BaseModelRow("forever"),
        ),
        fine_tuned=(FineTunedRow("later.ft-1", "later", "ftjob-1", date(2027, 10, 10)),),
    )
    card = models_card(view)
    assert_valid_adaptive(render_adaptive(card))
    assert_valid_blocks(render_blocks(card))
    rows = _rows(card, "Fine-tunable base models")
    assert rows["soon"][4] == "⚠ 2026-10-01 (52 days left)"
    assert rows["edge"][4].startswith("⚠")
    assert rows["later"][4] == "2026-10-10"
    assert rows["gone"][4] == "⚠ since 2026-08-01" and rows["gone"][3] == "?"
    assert rows["forever"][4] == "-"
    assert card.tone is Tone.WARNING
    assert "3 models retire within 60 days" in card.text and "`soon`, `edge`, `gone`" in card.text
    assert "later" not in card.text.split("retire within")[1]


def test_nothing_retiring_and_no_fine_tuned_models() -> None:
    card = models_card(ModelsView(resource="r", today=date(2026, 1, 1), bases=(BaseModelRow("a"),)))
    assert card.tone is Tone.INFO and "No fine-tuned models" in card.text and "⚠" not in card_text_of(card)
    assert_valid_adaptive(render_adaptive(card))
    assert_valid_blocks(render_blocks(card))


def card_text_of(card: Any) -> str:
    return card.text + " ".join(c for t in card.tables for r in t.rows for c in r)
