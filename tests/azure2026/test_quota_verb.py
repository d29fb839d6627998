"""`quota [--resource R]` against the emulator: jobs, fine-tuned deployments and files against the limits."""

from __future__ import annotations

from typing import Any

from bot.app import RunningBot
from bot.azure.models import StatusKind, normalise_status
from cards.model import Tone
from cards.quota import QuotaLine, QuotaView, quota_card, size_text
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from emulator import datasets
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks
from tests.handlers.test_jobs_flow import run

MODEL = "gpt-4o-mini-2024-07-18"


def _rows(card: Any) -> dict[str, tuple[str, ...]]:
    [table] = card.tables
    return {row[0]: row[1:] for row in table.rows}


async def test_an_empty_resource_is_within_its_limits(arm_bot: RunningBot) -> None:
    [reply] = await run(arm_bot, "quota")
    rows = _rows(reply.card)
    assert rows == {
        "Running jobs": ("0", "3", "ok"),
        "Running Developer jobs": ("0", "5", "ok"),
        "Queued jobs": ("0", "20", "ok"),
        "Jobs in total": ("0", "100", "ok"),
        "Fine-tuned deployments": ("0", "10", "ok"),
        "Files": ("0", "100", "ok"),
        "Size of the files": ("0 bytes", "1 GB", "ok"),
    }
    assert reply.card.tone is Tone.INFO and "within its limits" in reply.card.text


async def test_without_arm_access_the_deployments_are_not_known(running_bot: RunningBot) -> None:
    # `running_bot` has an API key for the data plane but no Entra credential for ARM.
    [reply] = await run(running_bot, "quota")
    rows = _rows(reply.card)
    assert rows["Fine-tuned deployments"] == ("?", "10", "not known")
    assert rows["Jobs in total"] == ("0", "100", "ok")
    assert "could not be read from ARM" in reply.card.text


async def test_counts_follow_the_emulator_state(arm_bot: RunningBot, emulator: Any) -> None:
    running_bot = arm_bot
    client = running_bot.ctx.azure.data()
    train = await client.upload_file(datasets.path("good_training"))
    valid = await client.upload_file(datasets.path("good_validation"))
    emulator.advance(60)
    for seed in range(4):
        await client.create_job(MODEL, train.id, validation_file=valid.id, seed=seed)
    emulator.advance(120)
    # A fine-tuned model deployed once the first job is done (the others keep their places meanwhile).
    [first] = list(emulator.state.default_account.jobs.values())[:1]
    emulator.advance(3 * 3600)
    done = await client.get_job(first.id)
    assert done.fine_tuned_model
    # Counted from the moment ARM accepts it (a deployment being created holds its place).
    await running_bot.ctx.azure.arm().put_deployment("ft-one", done.fine_tuned_model)

    [reply] = await run(running_bot, "quota")
    rows = _rows(reply.card)
    jobs = [normalise_status(j.status).kind for j in emulator.state.default_account.jobs.values()]
    running = sum(k in (StatusKind.RUNNING, StatusKind.PAUSING, StatusKind.RESUMING) for k in jobs)
    queued = sum(k is StatusKind.WAITING for k in jobs)
    assert rows["Running jobs"][:2] == (str(running), "3")
    assert rows["Queued jobs"][:2] == (str(queued), "20")
    assert rows["Jobs in total"][:2] == ("4", "100")
    assert rows["Fine-tuned deployments"][:2] == ("1", "10")
    files = [
        f
        for f in emulator.state.default_account.files.values()
        if f.status(emulator.state.now()) != "deleted"
    ]
    assert rows["Files"][:2] == (str(len(files)), "100")
    assert len(files) >= 3  # the two uploads and the first job's results file
    assert rows["Size of the files"][0] == size_text(sum(len(f.content) for f in files))


async def test_three_running_jobs_make_the_next_one_queue(running_bot: RunningBot, emulator: Any) -> None:
    client = running_bot.ctx.azure.data()
    train = await client.upload_file(datasets.path("good_training"))
    emulator.advance(60)
    for seed in range(4):
        await client.create_job(MODEL, train.id, seed=seed)
    emulator.advance(120)
    [reply] = await run(running_bot, "quota")
    rows = _rows(reply.card)
    assert rows["Running jobs"] == ("3", "3", "⚠ full")
    assert rows["Queued jobs"][0] == "1"
    assert reply.card.tone is Tone.WARNING
    assert "Running jobs: at the limit. A new job waits in the queue" in reply.card.text


async def test_developer_jobs_run_against_their_own_limit(running_bot: RunningBot, emulator: Any) -> None:
    client = running_bot.ctx.azure.data()
    train = await client.upload_file(datasets.path("good_training"))
    emulator.advance(60)
    for seed, kind in enumerate(("developer", "developer", "global")):
        await client.create_job(MODEL, train.id, seed=seed, training_type=kind)
    emulator.advance(120)
    [reply] = await run(running_bot, "quota")
    rows = _rows(reply.card)
    assert rows["Running jobs"] == ("1", "3", "ok")
    assert rows["Running Developer jobs"] == ("2", "5", "ok")


def test_card_states_on_both_platforms() -> None:
    view = QuotaView(
        resource="default",
        lines=(
            QuotaLine("Files", 80, 100),
            QuotaLine("Size of the files", 1024**3, 1024**3, size=True, at_limit="Delete old files."),
            QuotaLine("Fine-tuned deployments", None, 10),
            QuotaLine("Jobs in total", 79, 100),
        ),
        notes=("The deployments could not be read.",),
    )
    card = quota_card(view)
    assert_valid_adaptive(render_adaptive(card))
    assert_valid_blocks(render_blocks(card))
    rows = _rows(card)
    assert rows["Files"] == ("80", "100", "⚠ nearly full")
    assert rows["Size of the files"] == ("1 GB", "1 GB", "⚠ full")
    assert rows["Fine-tuned deployments"] == ("?", "10", "not known")
    assert rows["Jobs in total"][2] == "ok"
    assert "Size of the files: at the limit. Delete old files." in card.text
    assert "Nearly full: files." in card.text and "could not be read" in card.text
    assert [size_text(n) for n in (0, 1023, 1536, 512 * 1024**2)] == [
        "0 bytes",
        "1,023 bytes",
        "1.5 KB",
        "512 MB",
    ]
