"""`start` as Azure offers it in 2026, against the emulator through the real handlers: the training type
(`--training-type`, the per-resource and bot defaults, `trainingType` on the wire of every create, refused
before any upload when the model lacks it), its cost, the warning for a base model that retires within 30 days
(on the emulator's clock) and the one for a job that will queue behind running ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import training_types as tt
from bot.app import RunningBot, start_bot
from bot.config import AzureResource
from bot.dataprep import validate_path
from bot.dataprep.models import ModelInfo
from bot.dataprep.prices import shipped_prices
from bot.model import Reply
from emulator import datasets
from emulator.config import EmulatorConfig
from emulator.server import start as start_emulator
from handlers import start_notes
from tests.conftest import bot_settings
from tests.handlers.test_jobs_flow import card_text, run

MODEL = "gpt-4o-mini-2024-07-18"
START = f"start {MODEL} --training good_training --epochs 2"


@pytest.fixture
def local(running_bot: RunningBot) -> RunningBot:
    running_bot.ctx.local_files = True
    return running_bot


def fact(reply: Reply, label: str) -> str:
    return next(f.value for f in reply.card.facts if f.label == label)


def job_id(reply: Reply) -> str:
    key = reply.card.key or ""
    assert key.startswith("job:ftjob-"), card_text(reply)
    return key.removeprefix("job:")


def sent_types(emu: Any) -> dict[str, str | None]:
    """`trainingType` of every job as the emulator received it on the create (None: left out)."""
    return {j.id: j.training_type for j in emu.state.default_account.jobs.values()}


def money(tokens: int, per_million: float) -> str:
    amount = tokens / 1_000_000 * per_million
    return f"${amount:,.{2 if amount >= 0.01 else 4}f}"


async def test_a_developer_trained_job_shows_its_type_and_its_cost(local: RunningBot, emulator: Any) -> None:
    [reply] = await run(local, f"{START} --training-type developer")
    job = job_id(reply)
    assert sent_types(emulator) == {job: "Developer"}
    assert fact(reply, "Training type") == f"Developer ({tt.DEVELOPER_NOTE})"
    assert "may pause and resume by itself, and is not billed while paused" in card_text(reply)
    # The estimate is at Developer's price (the table's per-type figure, dated), not Standard's.
    tokens = validate_path(datasets.path("good_training"), model=MODEL, epochs=2).estimated_trained_tokens
    assert tokens
    table = shipped_prices()
    developer = table.by_type["developer"]["gpt-4o-mini"]
    assert developer < table.by_type["global"]["gpt-4o-mini"] < table.per_million["gpt-4o-mini"]
    assert (
        f"≈{money(tokens, developer)} for Developer training (illustrative prices, {table.types_as_of})"
        in reply.card.text
    )
    # Later cards read the type from Azure's answer.
    [status] = await run(local, f"status {job}")
    assert fact(status, "Training type") == f"Developer ({tt.DEVELOPER_NOTE})"


async def test_global_costs_less_than_standard_on_the_card(local: RunningBot, emulator: Any) -> None:
    [standard] = await run(local, f"{START} --training-type standard")
    [global_] = await run(local, f"{START} --training-type GlobalStandard")  # Azure's spelling works too
    assert fact(standard, "Training type") == "Standard" and fact(global_, "Training type") == "Global"
    assert "for Standard training (illustrative prices)" in standard.card.text
    assert "for Global training (illustrative prices, 2026-02-11)" in global_.card.text
    assert sorted(sent_types(emulator).values()) == ["GlobalStandard", "Standard"]


async def test_a_type_the_model_lacks_is_refused_before_any_upload(local: RunningBot, emulator: Any) -> None:
    [reply] = await run(local, "start o4-mini-2025-04-16 --training good_training --training-type developer")
    text = card_text(reply)
    assert "`o4-mini-2025-04-16` does not train with `--training-type developer`" in text
    assert "Types that work for it: `standard`, `datazone`, `global`." in text
    assert "--training-type global" in text  # what to do
    assert emulator.state.counters["files.upload"] == 0 and emulator.state.counters["jobs.create"] == 0
    assert not emulator.state.default_account.files


async def test_an_unknown_type_is_a_usage_answer(local: RunningBot, emulator: Any) -> None:
    [reply] = await run(local, f"{START} --training-type cheap")
    assert "--training-type" in card_text(reply) and "standard, datazone, global, developer" in card_text(
        reply
    )
    assert emulator.state.counters["files.upload"] == 0


@pytest.fixture
async def two_resources(emulator: Any, tmp_path: Path) -> AsyncIterator[RunningBot]:
    """The default resource takes the bot's default (standard); `swe` has its own (global) in the TOML."""
    swe = AzureResource(
        name="swe",
        endpoint=emulator.url,
        api_key_env="FTBOT_TEST_SWE_KEY",
        subscription_id=emulator.subscription_id,
        resource_group=emulator.resource_group,
        account_name=emulator.account_name,
        default_training_type="GlobalStandard",
    )
    settings = bot_settings(emulator, tmp_path, resources=[swe], default_training_type="standard")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FTBOT_TEST_SWE_KEY", "test-key-not-secret")
        bot = await start_bot(settings)
        bot.ctx.local_files = True
        try:
            yield bot
        finally:
            await bot.close()


async def test_the_default_comes_from_settings_per_resource_and_is_always_sent(
    two_resources: RunningBot, emulator: Any
) -> None:
    bot = two_resources
    [default] = await run(bot, START)
    [swe] = await run(bot, f"{START} --resource swe")
    [asked] = await run(bot, f"{START} --resource swe --training-type developer")
    assert fact(default, "Training type") == "Standard (the bot's default)"
    assert fact(swe, "Training type") == "Global (this resource's default)"
    assert fact(asked, "Training type").startswith("Developer (pre-emptible")
    types = sent_types(emulator)
    assert types == {
        job_id(default): "Standard",
        job_id(swe): "GlobalStandard",
        job_id(asked): "Developer",
    }
    assert None not in types.values()


async def test_without_settings_the_cheapest_type_without_pre_emption(
    local: RunningBot, emulator: Any
) -> None:
    [reply] = await run(local, START)
    assert fact(reply, "Training type").startswith(
        "Global (the cheapest this model offers without pre-emption"
    )
    assert "--training-type developer" in fact(reply, "Training type")  # the cheaper choice is named
    assert list(sent_types(emulator).values()) == ["GlobalStandard"]
    assert "for Global training" in reply.card.text


async def test_every_start_sends_training_type(local: RunningBot, emulator: Any) -> None:
    starts = [
        START,
        f"{START} --training-type datazone",
        "start gpt-4o-2024-08-06 --training dpo_training --method dpo",
        f"start {MODEL} --training good_training --validation good_validation --training-type global",
    ]
    for text in starts:
        [*_, reply] = await run(local, text)
        job_id(reply)
    types = sent_types(emulator)
    assert len(types) == len(starts) and all(types.values()), types
    assert sorted(v or "" for v in types.values()) == sorted(
        ["GlobalStandard", "DataZoneStandard", "GlobalStandard", "GlobalStandard"]
    )


# -- retirement ---------------------------------------------------------------------------------------------


async def _start_on_day(day: date, tmp_path: Path) -> str:
    """A start of gpt-4o-mini (retires 2026-10-01) with the emulator's clock on `day`: the card's text."""
    moment = datetime(day.year, day.month, day.day, 9, tzinfo=UTC).timestamp()
    emu = await start_emulator(config=EmulatorConfig(speed=10, start_time=moment))
    try:
        bot = await start_bot(bot_settings(emu, tmp_path))
        bot.ctx.local_files = True
        try:
            [reply] = await run(bot, START)
            assert bot.ctx.azure_now().date() == day  # the card went by Azure's clock, not this machine's
            job_id(reply)
            return reply.card.text
        finally:
            await bot.close()
    finally:
        await emu.close()


async def test_a_base_model_retiring_within_30_days_is_warned_of(tmp_path: Path) -> None:
    text = await _start_on_day(date(2026, 9, 20), tmp_path)
    assert (
        "⚠ `gpt-4o-mini` takes no new fine-tuning after 2026-10-01 (in 11 days): this job can still train, "
        "but pick a newer base model for the next one (`models` lists them with their retirement dates)."
    ) in text


async def test_no_retirement_warning_further_out(tmp_path: Path) -> None:
    text = await _start_on_day(date(2026, 8, 31), tmp_path)  # 31 days before
    assert "⚠" not in text and "retire" not in text and "2026-10-01" not in text


def test_retirement_lines_name_the_successor_and_a_past_date(monkeypatch: pytest.MonkeyPatch) -> None:
    soon = ModelInfo("old-model", "o200k_base", 1000, retires="2026-10-01", successor="new-model")
    monkeypatch.setattr(start_notes, "model_info", lambda model: soon)
    assert start_notes.retirement_warning("old-model", date(2026, 10, 1)) == (
        "⚠ `old-model` takes no new fine-tuning after 2026-10-01 (today): this job can still train, but "
        "start the next one on `new-model`."
    )
    assert start_notes.retirement_warning("old-model", date(2026, 9, 30)).count("(in 1 day)") == 1
    gone = start_notes.retirement_warning("old-model", date(2026, 11, 26))
    assert gone.startswith("⚠ `old-model` was retired for new fine-tuning on 2026-10-01")
    assert gone.endswith("What to do: start the next one on `new-model`.")
    assert start_notes.retirement_warning("old-model", date(2026, 8, 31)) == ""


def test_a_retired_model_with_nothing_open_says_so_instead_of_pick_a_newer_one() -> None:
    # By late 2026 every catalogued SFT base model is past its announced date: "pick a newer one" has no answer.
    late = start_notes.retirement_warning("gpt-4o-mini-2024-07-18", date(2026, 11, 27))
    assert "no other base model in ftbot's catalogue takes new fine-tuning from everyone now either" in late
    assert "pick a newer base model" not in late
    early = start_notes.retirement_warning("gpt-4o-mini-2024-07-18", date(2026, 9, 20))  # gpt-4.1 still open
    assert "pick a newer base model for the next one" in early


# -- queue --------------------------------------------------------------------------------------------------


async def _running(bot: RunningBot, emu: Any, count: int, training_type: str = "standard") -> None:
    client = bot.ctx.azure.data()
    train = await client.upload_file(datasets.path("good_training"))
    emu.advance(60)
    for seed in range(count):
        await client.create_job(MODEL, train.id, seed=seed, training_type=training_type)
    emu.advance(120)
    states = [j.status for j in emu.state.default_account.jobs.values()]
    assert states.count("running") == min(count, 3 if training_type != "developer" else 5), states


QUEUE = "this one will queue and start after one of them finishes"


async def test_a_start_behind_running_jobs_at_the_limit_says_it_will_queue(
    local: RunningBot, emulator: Any
) -> None:
    await _running(local, emulator, 3)
    [reply] = await run(local, f"{START} --training-type global")
    assert f"⚠ 3 of 3 jobs running on this resource; {QUEUE}." in reply.card.text
    # Developer training has its own limit (5): nothing ahead of it.
    [developer] = await run(local, f"{START} --training-type developer")
    assert QUEUE not in developer.card.text
    job_id(developer)


async def test_below_the_limit_no_queue_warning(local: RunningBot, emulator: Any) -> None:
    await _running(local, emulator, 2)
    [reply] = await run(local, f"{START} --training-type standard")
    job_id(reply)
    assert QUEUE not in reply.card.text and "running on this resource" not in reply.card.text


async def test_developer_jobs_at_their_own_limit(local: RunningBot, emulator: Any) -> None:
    await _running(local, emulator, 5, "developer")
    [reply] = await run(local, f"{START} --training-type developer")
    assert f"⚠ 5 of 5 Developer-training jobs running on this resource; {QUEUE}." in reply.card.text


async def test_a_failing_job_list_means_no_warning_and_no_failure(local: RunningBot, emulator: Any) -> None:
    await _running(local, emulator, 3)
    async with httpx.AsyncClient(base_url=emulator.url) as admin:
        only_the_list = {"only": r"^GET .*/fine_tuning/jobs$", "error": 1}
        assert (await admin.put("/_emulator/faults/dataplane", json=only_the_list)).status_code == 200
    start_notes_within = start_notes.QUEUE_CHECK_WITHIN
    try:
        start_notes.QUEUE_CHECK_WITHIN = 1.0  # the retries of a failing list stop here
        [reply] = await run(local, f"{START} --training-type global")
    finally:
        start_notes.QUEUE_CHECK_WITHIN = start_notes_within
    job_id(reply)
    assert QUEUE not in reply.card.text
    assert emulator.state.faults.injected.get("dataplane.error", 0) >= 1
