"""`start` and `validate` through the dispatcher against the emulator: checks before anything is sent,
invalid data never uploaded, a good start records the job's home and posts its card."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web

import handlers.data
from bot.app import RunningBot
from bot.azure.errors import BadRequest
from bot.model import Attachment
from emulator import datasets
from tests.handlers.test_jobs_flow import ALICE, CHANNEL, card_text, command, run
from tests.support import datasets_app, serve

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
    [reply] = await run(
        local,
        f"start {MODEL} --training good_training --validation good_validation --seed 105 --suffix demo-1 --epochs 2",
    )
    job_card = reply.card
    assert job_card.key is not None and job_card.key.startswith("job:ftjob-")
    job_id = job_card.key.removeprefix("job:")
    assert uploads(emulator) == 2
    assert emulator.state.counters["jobs.create"] == 1
    stored = await local.store.get_job(job_id)
    assert stored is not None and stored.home_conversation == CHANNEL.key and stored.requested_by == ALICE.id
    job = await local.ctx.azure.data().get_job(job_id)
    assert (job.seed, job.suffix, job.model) == (105, "demo-1", MODEL)
    assert job.hyperparameters is not None and job.hyperparameters.n_epochs == 2
    # one message: the job card, with a one-line summary of the checked data and the training estimate
    assert "24 training + 10 validation examples checked · ≈" in job_card.text
    assert "trained tokens (2 epochs) · ≈$" in job_card.text and "(illustrative prices" in job_card.text
    [trail] = await local.store.audit_trail(job_id)
    assert trail.action == "job.start"


async def test_without_epochs_the_summary_says_the_epochs_are_a_guess(
    local: RunningBot, emulator: Any
) -> None:
    [reply] = await run(local, f"start {MODEL} --training good_training")
    assert "24 training examples checked" in reply.card.text
    assert "(4 epochs, the usual default: Azure picks its own)" in reply.card.text


async def test_good_training_and_bad_validation_is_one_clear_refusal(
    local: RunningBot, emulator: Any
) -> None:
    [reply] = await run(local, f"start {MODEL} --training good_training --validation invalid_jsonl")
    card = reply.card
    assert card.title == "No job started: fix `invalid_jsonl` (validation data)"
    assert card.tone == "error" and "The training data `good_training` passed (24 examples)." in card.text
    assert "line" in card_text(reply).lower()
    assert uploads(emulator) == 0 and emulator.state.counters["jobs.create"] == 0


async def test_both_files_bad_names_both_in_the_first_title(local: RunningBot, emulator: Any) -> None:
    first, second = await run(local, f"start {MODEL} --training too_few_examples --validation invalid_jsonl")
    assert first.card.title == (
        "No job started: fix `too_few_examples` (training data) and `invalid_jsonl` (validation data)"
    )
    assert second.card.title == "Data check failed: `invalid_jsonl` (validation data)"


async def test_dpo_data_without_method_dpo_says_so(local: RunningBot, emulator: Any) -> None:
    [reply] = await run(local, "start gpt-4o-2024-08-06 --training dpo_training")
    assert "This looks like DPO preference data: add `--method dpo`" in reply.card.text
    assert "Trained tokens" not in card_text(reply)
    assert uploads(emulator) == 0


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


async def test_a_mistyped_sample_name_gets_the_closest_one_and_the_list(
    local: RunningBot, emulator: Any
) -> None:
    [reply] = await run(local, f"start {MODEL} --training good_trainin")
    text = card_text(reply)
    assert "Did you mean `good_training`?" in text
    assert "Sample datasets here:" in text and "`good_validation`" in text
    assert uploads(emulator) == 0


async def test_a_shared_bot_names_no_samples(running_bot: RunningBot, emulator: Any) -> None:
    running_bot.ctx.local_files = False
    [reply] = await run(running_bot, f"start {MODEL} --training good_trainin")
    assert "is not an Azure file id" in card_text(reply) and "Sample datasets" not in card_text(reply)


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
    cmd = replace(cmd, attachments=(attached,))
    replies = await local.dispatcher.on_command(cmd)
    assert (replies[-1].card.key or "").startswith("job:ftjob-"), card_text(replies[-1])
    assert uploads(emulator) == 1


@pytest.fixture
async def aiohttp_file_server() -> AsyncIterator[str]:
    """Serves the sample datasets over HTTP, like a Teams download URL or a blob SAS URL."""
    async with serve(datasets_app()) as url:
        yield url


def files_in_azure(emu: Any) -> int:
    return sum(len(account.files) for account in emu.state.accounts.values())


async def test_azure_refusing_the_job_removes_the_uploaded_files(local: RunningBot, emulator: Any) -> None:
    emulator.state.config.max_total_jobs = 0  # Azure answers quotaExceeded to the create
    [reply] = await run(local, f"start {MODEL} --training good_training --validation good_validation")
    assert "quotaExceeded" in card_text(reply) or "maximum" in card_text(reply)
    assert uploads(emulator) == 2 and files_in_azure(emulator) == 0


async def test_a_failing_second_upload_removes_the_first(
    local: RunningBot, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = local.ctx.azure.data()
    real_upload = client.upload_file
    calls = 0

    async def upload_then_fail(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise BadRequest("the second upload is refused", code="invalidPayload", status=400)
        return await real_upload(*args, **kwargs)

    monkeypatch.setattr(client, "upload_file", upload_then_fail)
    await run(local, f"start {MODEL} --training good_training --validation good_validation")
    assert uploads(emulator) == 1 and files_in_azure(emulator) == 0
    assert emulator.state.counters["jobs.create"] == 0


async def test_unknown_base_model_is_refused_before_uploading(local: RunningBot, emulator: Any) -> None:
    [reply] = await run(local, "start gpt-9-turbo --training good_training")
    text = card_text(reply)
    assert "`gpt-9-turbo` is not a model I know can be fine-tuned: known: " in text
    assert "`gpt-4o-mini`" in text and "file id" in text
    assert uploads(emulator) == 0


async def test_unknown_base_model_with_data_already_in_azure_is_left_to_azure(
    local: RunningBot, emulator: Any
) -> None:
    uploaded = await local.ctx.azure.data().upload_file(datasets.path("good_training"))
    emulator.advance(60)
    [reply] = await run(local, f"start gpt-9-turbo --training {uploaded.id}")
    assert emulator.state.counters["jobs.create"] == 1  # Azure was asked, and answers for itself
    assert "is not a model I know" not in card_text(reply)
    assert files_in_azure(emulator) == 1  # the user's own file is not this command's to delete


async def test_a_file_still_processing_is_kept_and_named(
    local: RunningBot, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    timings = emulator.state.config.timings
    emulator.state.config.timings = replace(timings, file_processing=10_000.0)
    monkeypatch.setattr(handlers.data, "FILE_READY_WAIT", 0.0)
    [reply] = await run(local, f"start {MODEL} --training good_training")
    text = card_text(reply)
    [kept] = [f for account in emulator.state.accounts.values() for f in account.files.values()]
    assert "Azure is still processing `good_training` after 0 s" in text
    assert f"I kept the uploaded file `{kept.id}`" in text and f"--training {kept.id}" in text
    assert "pollTimeout" not in text and emulator.state.counters["jobs.create"] == 0


async def test_a_url_that_changes_between_check_and_import_is_refused(
    local: RunningBot, emulator: Any
) -> None:
    good = datasets.path("good_training").read_bytes()
    served = [good, good + good.splitlines(keepends=True)[0]]  # the second fetch (Azure's) gets more

    async def changing(request: web.Request) -> web.Response:
        return web.Response(body=served.pop(0) if len(served) > 1 else served[0])

    app = web.Application()
    app.router.add_get("/train.jsonl", changing)
    async with serve(app) as url:
        [reply] = await run(local, f"start {MODEL} --training {url}/train.jsonl")
    text = card_text(reply)
    assert "changed between the check and the import" in text
    assert emulator.state.counters["files.import"] == 1 and files_in_azure(emulator) == 0


async def test_a_url_imported_unchanged_starts_a_job(local: RunningBot, emulator: Any) -> None:
    async with serve(datasets_app()) as url:
        [reply] = await run(local, f"start {MODEL} --training {url}/good_training.jsonl")
    assert (reply.card.key or "").startswith("job:ftjob-"), card_text(reply)
    assert emulator.state.counters["files.import"] == 1


async def test_a_start_cancelled_mid_upload_leaves_nothing_in_azure(
    local: RunningBot, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    import handlers.start as start_module

    reached = asyncio.Event()

    async def never_ready(client: Any, source: Any) -> None:
        reached.set()
        await asyncio.Event().wait()  # a file Azure never finishes: the bot restarts meanwhile

    monkeypatch.setattr(start_module, "wait_until_ready", never_ready)
    task = asyncio.create_task(
        local.dispatcher.on_command(command(f"start {MODEL} --training good_training"))
    )
    async with asyncio.timeout(30):
        await reached.wait()
    assert files_in_azure(emulator) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_in_azure(emulator) == 0, "the cancelled start's upload was deleted"
