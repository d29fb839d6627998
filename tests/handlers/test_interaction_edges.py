"""The interaction edges real users hit (issue: cards that read right in real clients): stale buttons, pasted
ids with punctuation, finished jobs' wording, colours that agree between a job's cards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot import params
from bot.app import RunningBot
from bot.dataprep import validate_path
from bot.model import Action
from cards.checkpoints import checkpoints_card
from cards.events import events_card
from cards.jobs import RESUME
from cards.model import Tone
from cards.validation_report import validation_report_card
from cards.views import EventPageView, EventView, epoch
from tests.handlers.test_jobs_flow import ALICE, CHANNEL, card_text, run, started_job


@pytest.mark.parametrize("pasted", ["ftjob-{id}.", "ftjob-{id},", "(ftjob-{id})", "`ftjob-{id}`."])
def test_a_pasted_job_id_loses_the_sentence_punctuation(pasted: str) -> None:
    job = "0123456789abcdef0123456789abcdef"
    assert params.job_id(pasted.format(id=job)) == f"ftjob-{job}"


async def test_a_stale_resume_button_refreshes_the_card_and_tells_only_the_presser(
    running_bot: RunningBot, emulator: Any
) -> None:
    job_id = await started_job(running_bot, emulator)
    await run(running_bot, f"cancel {job_id} --yes")
    emulator.advance(60)
    # An old "paused" card of this job still offers Resume; the job is cancelled meanwhile.
    replies = await running_bot.dispatcher.on_action(Action(RESUME, {"job": job_id}, ALICE, CHANNEL, "slack"))
    card, note = replies
    assert card.replace_source and not card.ephemeral
    assert "cancel" in card_text(card).lower() and RESUME not in {b.action for b in card.card.buttons}
    assert note.ephemeral and note.card.tone is Tone.INFO and "Nothing changed" in note.card.title


def test_a_failed_jobs_events_are_red_like_its_status_card() -> None:
    page = EventPageView(
        "ftjob-1", (EventView("ftevent-1", epoch(1743500000), "info", "Job failed."),), False, None
    )
    assert events_card(page, job_status="failed").tone is Tone.ERROR
    assert events_card(page, job_status="running").tone is Tone.INFO


def test_a_finished_job_without_checkpoints_does_not_say_yet() -> None:
    done = checkpoints_card("ftjob-1", [], job_status="cancelled")
    assert "yet" not in done.text and "cancelled" in done.text
    assert "yet" in checkpoints_card("ftjob-1", [], job_status="running").text


async def test_help_goes_to_the_asker_only(running_bot: RunningBot) -> None:
    for text in ("help", "help status"):
        [reply] = await run(running_bot, text)
        assert reply.ephemeral, text


def test_a_long_error_list_points_at_chat_not_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_bytes(b"{}\n" * 40)
    card = validation_report_card(validate_path(data))
    table = card.tables[0]
    assert "/ft validate" in table.more and "ftbot validate FILE" not in table.more


def test_the_job_list_opens_a_job_from_its_row_and_teams_shows_short_ids() -> None:
    from cards.jobs import SHOW, job_list_card
    from cards.render_slack import render_blocks
    from cards.render_teams import render_adaptive
    from cards.views import JobView

    full = "ftjob-39ef0b3601df4e348c8f217fcb90d4ea"
    card = job_list_card([JobView(id=full, model="gpt-4o-mini-2024-07-18", status="running")])
    teams = render_adaptive(card)
    table = next(b for b in teams["body"] if b["type"] == "Table")
    first = table["rows"][1]["cells"][0]
    assert first["items"][0]["text"] == "ftjob\u2011…90d4ea"
    assert first["selectAction"]["verb"].endswith(SHOW) and full in str(first["selectAction"]["data"])
    widths = [c["width"] for c in table["columns"]]
    assert widths[1] / sum(widths) > 0.15  # "Status" / "running" keep a line of their own
    assert full in str(render_blocks(card))  # Slack (no clickable rows) keeps the whole id


async def test_opening_a_job_from_the_list_posts_its_card(running_bot: RunningBot, emulator: Any) -> None:
    from cards.jobs import SHOW

    job_id = await started_job(running_bot, emulator)
    [reply] = await running_bot.dispatcher.on_action(Action(SHOW, {"job": job_id}, ALICE, CHANNEL, "slack"))
    assert not reply.replace_source and reply.card.key == f"job:{job_id}"
