"""The job verbs end to end: dispatcher -> handlers -> bot's Azure client -> emulator over HTTP, and every
card they produce rendered for both platforms and validated."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import RunningBot
from bot.grammar import parse_command_text
from bot.model import Action, Command, Conversation, Reply, User
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from emulator import datasets
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks

ALICE = User("U1", "Alice")
CHANNEL = Conversation("slack", "C1", reference={"channel": "C1"})
UNKNOWN_JOB = "ftjob-" + "0" * 32


def command(text: str) -> Command:
    parsed = parse_command_text(text)
    return Command(parsed.verb, parsed.args, parsed.options, ALICE, CHANNEL, "slack", text=text)


async def run(bot: RunningBot, text: str) -> list[Reply]:
    replies = await bot.dispatcher.on_command(command(text))
    for reply in replies:
        assert_valid_blocks(render_blocks(reply.card))
        assert_valid_adaptive(render_adaptive(reply.card))
    return replies


def card_text(reply: Reply) -> str:
    c = reply.card
    parts = [c.title, c.text, c.badge, c.footer, c.summary]
    parts += [f"{f.label}: {f.value}" for f in c.facts]
    parts += [
        " ".join(t.columns) + " " + " ".join(cell for row in t.rows for cell in row) + t.more
        for t in c.tables
    ]
    return "\n".join(parts)


async def started_job(bot: RunningBot, emu: Any, **kwargs: Any) -> str:
    client = bot.ctx.azure.data()
    train = await client.upload_file(datasets.path("good_training"))
    valid = await client.upload_file(datasets.path("good_validation"))
    emu.advance(60)
    job = await client.create_job(
        "gpt-4o-mini-2024-07-18", train.id, validation_file=valid.id, seed=105, **kwargs
    )
    await started_here(bot, job.id)
    return str(job.id)


async def started_here(bot: RunningBot, job_id: str) -> None:
    """Record the job as `start` does: Alice started it in this channel (so she may see and change it)."""
    await bot.store.record_job(job_id, resource="default", home=CHANNEL, user=ALICE, model=None, status=None)


async def test_status_of_a_running_job_shows_progress_and_buttons(
    running_bot: RunningBot, emulator: Any
) -> None:
    job_id = await started_job(running_bot, emulator)
    emulator.advance(400)
    [reply] = await run(running_bot, f"status {job_id}")
    text = card_text(reply)
    assert job_id in text and "gpt-4o-mini-2024-07-18" in text
    assert reply.card.key == f"job:{job_id}"
    labels = [b.label for b in reply.card.buttons]
    assert labels[:2] == ["Refresh", "Events"]
    if "running" in text:
        assert "Cancel" in labels
        assert "%" in text, "a running job shows a progress bar"


async def test_unknown_job_is_a_clear_not_found(running_bot: RunningBot) -> None:
    [reply] = await run(running_bot, f"status {UNKNOWN_JOB}")
    assert "not found" in reply.card.title.lower() or "not found" in card_text(reply).lower()
    assert "Traceback" not in card_text(reply)


@pytest.mark.parametrize("text", ["status ftjob-nope", "status", "status 123", "events ftjob-x --limit 0"])
async def test_malformed_ids_never_reach_azure(
    running_bot: RunningBot, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    class NoAzure:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"Azure was called ({name}) for a malformed command")

    monkeypatch.setattr(running_bot.ctx, "azure", NoAzure())
    [reply] = await run(running_bot, text)
    assert reply.ephemeral
    assert "Usage" in card_text(reply)


async def test_nonsense_gives_a_usage_card(running_bot: RunningBot) -> None:
    [reply] = await run(running_bot, "nonsense")
    assert "nonsense" in card_text(reply) and "help" in card_text(reply)


async def test_events_page_and_more_pointer(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await started_job(running_bot, emulator)
    emulator.advance(3600)
    [reply] = await run(running_bot, f"events {job_id} --limit 3")
    [table] = reply.card.tables
    assert len(table.rows) == 3
    assert "--after ftevent-" in table.more
    after = table.more.split("--after ", 1)[1].split()[0].strip("`")
    [older] = await run(running_bot, f"events {job_id} --limit 3 --after {after}")
    assert older.card.tables[0].rows and older.card.tables[0].rows != table.rows


async def test_checkpoints_after_success_mark_the_deployable_ones(
    running_bot: RunningBot, emulator: Any
) -> None:
    job_id = await started_job(running_bot, emulator)
    emulator.advance(48 * 3600)
    [reply] = await run(running_bot, f"checkpoints {job_id}")
    [table] = reply.card.tables
    assert 1 <= len(table.rows) <= 3
    assert all(row[-1] for row in table.rows), "after success the kept checkpoints are deployable"


async def test_list_filters_by_status(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await started_job(running_bot, emulator)
    [reply] = await run(running_bot, "list")
    assert job_id in card_text(reply)
    [none] = await run(running_bot, "list --status cancelled")
    assert job_id not in card_text(none)


async def test_cancel_asks_first_then_cancels_and_audits(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await started_job(running_bot, emulator)
    [ask] = await run(running_bot, f"cancel {job_id}")
    [button] = ask.card.buttons
    # The typed command's card is the confirmation: its button does not ask a second time.
    assert button.confirm is None and button.style == "danger" and "cancel" in button.label.lower()
    replies = await running_bot.dispatcher.on_action(
        Action(button.action, dict(button.payload), ALICE, CHANNEL, "slack")
    )
    [done] = replies
    assert done.replace_source
    assert "cancel" in card_text(done).lower()
    [trail] = await running_bot.store.audit_trail(job_id)
    assert trail.action == "job.cancel" and trail.actor == "U1"
    [again] = await run(running_bot, f"cancel {job_id} --yes")
    assert "nothing to cancel" in card_text(again)


async def test_pause_and_resume_follow_the_job_state(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await started_job(running_bot, emulator)
    [refused] = await run(running_bot, f"resume {job_id}")
    assert "only a paused job" in card_text(refused)


async def test_refresh_button_replaces_the_card(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await started_job(running_bot, emulator)
    [reply] = await running_bot.dispatcher.on_action(
        Action("job.refresh", {"job": job_id}, ALICE, CHANNEL, "slack")
    )
    assert reply.replace_source and reply.card.key == f"job:{job_id}"
    [bad] = await running_bot.dispatcher.on_action(
        Action("job.refresh", {"job": "x"}, ALICE, CHANNEL, "slack")
    )
    assert "no valid job id" in card_text(bad)


async def test_older_events_button_pages_back(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await started_job(running_bot, emulator)
    emulator.advance(3600)
    [first] = await run(running_bot, f"events {job_id} --limit 3")
    older = next(b for b in first.card.buttons if b.payload.get("after"))
    [page] = await running_bot.dispatcher.on_action(
        Action(older.action, dict(older.payload), ALICE, CHANNEL, "slack")
    )
    assert page.in_thread
    newest_first_page = {row[-1] for row in first.card.tables[0].rows}
    assert not newest_first_page & {row[-1] for row in page.card.tables[0].rows}


async def test_pause_and_resume_buttons(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await started_job(running_bot, emulator)
    emulator.advance(400)
    [card] = await run(running_bot, f"status {job_id}")
    pause = next(b for b in card.card.buttons if b.label == "Pause")
    [paused] = await running_bot.dispatcher.on_action(
        Action(pause.action, dict(pause.payload), ALICE, CHANNEL, "slack")
    )
    assert paused.replace_source
    emulator.advance(120)
    [now] = await run(running_bot, f"status {job_id}")
    resume = next(b for b in now.card.buttons if b.label == "Resume")
    [resumed] = await running_bot.dispatcher.on_action(
        Action(resume.action, dict(resume.payload), ALICE, CHANNEL, "slack")
    )
    assert "resum" in card_text(resumed).lower()
    assert [e.action for e in await running_bot.store.audit_trail(job_id)] == ["job.pause", "job.resume"]


async def test_cancelling_a_finished_job_is_refused_before_asking(
    running_bot: RunningBot, emulator: Any
) -> None:
    job_id = await started_job(running_bot, emulator)
    emulator.advance(48 * 3600)
    [reply] = await run(running_bot, f"cancel {job_id}")
    assert not reply.card.buttons, "no confirmation for something that cannot happen"
    assert "has already succeeded" in card_text(reply) and reply.ephemeral


async def test_rai_failure_names_the_categories_in_plain_words(
    running_bot: RunningBot, emulator: Any
) -> None:
    client = running_bot.ctx.azure.data()
    bad = await client.upload_file(datasets.path("rai_data_failure"))
    emulator.advance(60)
    job = await client.create_job("gpt-4o-mini-2024-07-18", bad.id)
    await started_here(running_bot, job.id)
    emulator.advance(3600)
    [reply] = await run(running_bot, f"status {job.id}")
    text = card_text(reply)
    assert "failed" in text
    assert "contentFilter" not in text
    assert any(word in text for word in ("violence", "self-harm", "hate and fairness", "sexual content"))


async def test_typo_gets_a_suggestion(running_bot: RunningBot) -> None:
    [reply] = await run(running_bot, "stauts ftjob-x")
    assert "Did you mean" in card_text(reply) and "status" in card_text(reply)


@pytest.mark.parametrize(
    ("typed", "meant"), [("stat", "status"), ("strat", "start"), ("checkpoint", "checkpoints")]
)
async def test_a_word_that_begins_one_verb_suggests_that_verb(
    running_bot: RunningBot, typed: str, meant: str
) -> None:
    [reply] = await run(running_bot, f"{typed} ftjob-x")
    assert f"Did you mean `/ft {meant}`?" in card_text(reply)


async def test_unknown_job_is_private_and_not_alarming(running_bot: RunningBot) -> None:
    [reply] = await run(running_bot, f"status {UNKNOWN_JOB}")
    assert reply.ephemeral and reply.card.tone == "warning"
    assert "Azure refused" not in card_text(reply)


async def test_quota_refusal_says_what_to_do(running_bot: RunningBot, emulator: Any) -> None:
    emulator.state.config.max_total_jobs = 0
    client = running_bot.ctx.azure.data()
    uploaded = await client.upload_file(datasets.path("good_training"))
    emulator.advance(60)
    [reply] = await run(running_bot, f"start gpt-4o-mini-2024-07-18 --training {uploaded.id}")
    text = card_text(reply)
    assert "limits" in reply.card.title and "list --status pending" in text
