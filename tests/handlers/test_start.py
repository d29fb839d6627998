"""`start` and `validate` through the dispatcher against the emulator: checks before anything is sent,
invalid data never uploaded, a good start records the job's home and posts its card."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import RunningBot
from bot.model import Attachment
from emulator import datasets
from tests.handlers.test_jobs_flow import ALICE, CHANNEL, card_text, command, run

MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def local(running_bot: RunningBot) -> RunningBot:
    """Local use: sample dataset names and paths are allowed (as with the embedded emulator)."""
    running_bot.ctx.local_files = True
    return running_bot


def uploads(emu: Any) -> int:
    return int(emu.state.counters["files.upload"])


async def test_start_with_good_sample_data_creates_a_job_and_records_its_home(
    local: RunningBot, emulator: Any
) -> None:
    replies = await run(
        local,
        f"start {MODEL} --training good_training --validation good_validation --seed 105 --suffix demo-1 --epochs 2",
    )
    job_card = replies[-1].card
    assert job_card.key is not None and job_card.key.startswith("job:ftjob-")
    job_id = job_card.key.removeprefix("job:")
    assert uploads(emulator) == 2
    assert emulator.state.counters["jobs.create"] == 1
    stored = await local.store.get_job(job_id)
    assert stored is not None and stored.home_conversation == CHANNEL.key and stored.requested_by == ALICE.id
    job = await local.ctx.azure.data().get_job(job_id)
    assert (job.seed, job.suffix, job.model) == (105, "demo-1", MODEL)
    assert job.hyperparameters is not None and job.hyperparameters.n_epochs == 2
    # the validation reports come first, with the trained-token estimate
    assert any("Examples" in card_text(r) for r in replies[:-1])
    [trail] = await local.store.audit_trail(job_id)
    assert trail.action == "job.start"


@pytest.mark.parametrize("dataset", ["invalid_jsonl", "too_few_examples"])
async def test_invalid_data_gets_a_line_numbered_report_and_nothing_is_uploaded(
    local: RunningBot, emulator: Any, dataset: str
) -> None:
    replies = await run(local, f"start {MODEL} --training {dataset}")
    assert len(replies) == 1
    text = card_text(replies[0])
    assert replies[0].card.tone == "error"
    if dataset == "invalid_jsonl":
        assert "line" in text.lower()
    assert uploads(emulator) == 0 and emulator.state.counters["jobs.create"] == 0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"start {MODEL} --training good_training --suffix has.dot", "--suffix"),
        (f"start {MODEL} --training good_training --suffix " + "x" * 41, "--suffix"),
        (f"start {MODEL} --training good_training --seed -1", "--seed"),
        (f"start {MODEL} --training good_training --epochs 0", "--epochs"),
        (f"start {MODEL} --training good_training --lr-multiplier 0", "--lr-multiplier"),
        (f"start {MODEL} --training good_training --beta 0.1", "--method dpo"),
        (f"start {MODEL} --training good_training --method dpo", "cannot be fine-tuned with DPO"),
        (f"start {MODEL} --training good_training --method dpo --beta 3", "--beta"),
        ("start gpt-3.5-turbo --training good_training", "gpt-35-turbo"),
        ("start gpt_4o --training good_training", "model name"),
        (f"start {MODEL}", "needs training data"),
    ],
)
async def test_rules_are_checked_before_anything_is_sent(
    local: RunningBot, emulator: Any, text: str, problem: str
) -> None:
    [reply] = await run(local, text)
    assert problem in card_text(reply)
    assert uploads(emulator) == 0 and emulator.state.counters["jobs.create"] == 0


async def test_dpo_on_a_model_that_supports_it(local: RunningBot, emulator: Any) -> None:
    replies = await run(local, "start gpt-4o-2024-08-06 --training dpo_training --method dpo --beta 0.2")
    job_id = (replies[-1].card.key or "").removeprefix("job:")
    job = await local.ctx.azure.data().get_job(job_id)
    assert job.method_type == "dpo"


async def test_existing_azure_file_is_used_as_is(local: RunningBot, emulator: Any) -> None:
    uploaded = await local.ctx.azure.data().upload_file(datasets.path("good_training"))
    emulator.advance(60)
    replies = await run(local, f"start {MODEL} --training {uploaded.id}")
    assert replies[-1].card.key and replies[-1].card.key.startswith("job:")
    assert uploads(emulator) == 1


async def test_local_paths_are_refused_on_a_shared_bot(running_bot: RunningBot, emulator: Any) -> None:
    running_bot.ctx.local_files = False
    [reply] = await run(running_bot, f"start {MODEL} --training {datasets.path('good_training')}")
    assert "is not an Azure file id" in card_text(reply)
    assert uploads(emulator) == 0


async def test_continuous_fine_tuning_from_a_fine_tuned_model(local: RunningBot, emulator: Any) -> None:
    first = await run(local, f"start {MODEL} --training good_training --seed 1")
    job_id = (first[-1].card.key or "").removeprefix("job:")
    emulator.advance(48 * 3600)
    job = await local.ctx.azure.data().get_job(job_id)
    assert job.fine_tuned_model
    again = await run(local, f"start {job.fine_tuned_model} --training good_training")
    assert (again[-1].card.key or "").startswith("job:ftjob-")


async def test_validate_verb_reports_without_uploading(local: RunningBot, emulator: Any) -> None:
    [reply] = await run(local, "validate invalid_jsonl")
    assert reply.card.tone == "error" and "line" in card_text(reply).lower()
    [good] = await run(local, f"validate good_training --model {MODEL}")
    assert good.card.tone == "success"
    assert uploads(emulator) == 0


async def test_attachment_without_a_fetcher_is_downloaded_by_url(
    local: RunningBot, emulator: Any, aiohttp_file_server: str
) -> None:
    cmd = command(f"start {MODEL}")
    attached = Attachment(name="train.jsonl", url=f"{aiohttp_file_server}/good_training.jsonl")
    from dataclasses import replace

    cmd = replace(cmd, attachments=(attached,))
    replies = await local.dispatcher.on_command(cmd)
    assert (replies[-1].card.key or "").startswith("job:ftjob-"), card_text(replies[-1])
    assert uploads(emulator) == 1


@pytest.fixture
async def aiohttp_file_server() -> Any:
    """Serves the sample datasets over HTTP, like a Teams download URL or a blob SAS URL."""
    from aiohttp import web

    app = web.Application()
    app.router.add_static("/", str(datasets.path("good_training").parent))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()
