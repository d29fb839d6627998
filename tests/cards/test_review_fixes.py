"""Wording and layout fixes from the UX review: safety failures, overfitting, dead jobs' checkpoints, times,
plurals, Slack table cells, usage cards."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from cards.checkpoints import checkpoints_card, overfitting_warning
from cards.events import events_card
from cards.format import clock, day, plural, when
from cards.help import usage_card
from cards.jobs import job_card
from cards.markup import cut_words, to_cell
from cards.model import Card, Table, Tone
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from cards.views import CheckpointView, EventPageView, EventView, JobView, VerbHelp
from tests.cards.conftest import JOB_ID, T0
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks


def both(card: Card) -> tuple[str, str]:
    teams, slack = render_adaptive(card), render_blocks(card)
    assert_valid_adaptive(teams)
    assert_valid_blocks(slack)
    return json.dumps(teams, ensure_ascii=False), json.dumps(slack, ensure_ascii=False)


def failed(job: JobView, **changes: object) -> JobView:
    return replace(job, status="failed", error_code="contentFilter", error_message="RAI blah", **changes)  # type: ignore[arg-type]


def test_data_phase_safety_failure_in_plain_words(running_job: JobView) -> None:
    job = failed(running_job, rai_phase="data", rai_categories=("violence", "self-harm", "hate and fairness"))
    card = job_card(job)
    assert (
        "Azure's safety check found harmful content in the training data: violence, self-harm, hate and "
        "fairness. The job was not trained and not charged. Rewrite or remove the examples with that content "
        "(Azure does not say which lines), then `start` again."
    ) in card.text
    assert card.summary == f"Job {JOB_ID} failed Azure's safety check."
    teams, slack = both(card)
    assert "contentFilter" not in teams + slack and "RAI blah" not in card.text


def test_evaluation_phase_safety_failure_in_plain_words(running_job: JobView) -> None:
    job = failed(running_job, rai_phase="evaluation", rai_categories=("violence", "self-harm"))
    card = job_card(job)
    assert (
        "The trained model failed Azure's safety evaluation for: violence, self-harm. It cannot be deployed; "
        "training was not charged. Review the training data for content that teaches these behaviours and "
        "retrain."
    ) in card.text
    assert card.tone is Tone.ERROR and "contentFilter" not in card.text


def test_other_failures_still_show_code_and_message(running_job: JobView) -> None:
    card = job_card(
        replace(running_job, status="failed", error_code="invalid_file", error_message="Bad line")
    )
    assert "(`invalid_file`): Bad line" in card.text
    assert card.summary == f"Job {JOB_ID} failed."


@pytest.mark.parametrize(
    ("status", "sentence"),
    [
        ("succeeded", "Job X succeeded."),
        ("cancelled", "Job X was cancelled."),
        ("running", "Job X is running (40%)."),
        ("validating_files", "Job X is validating files (40%)."),
        ("paused", "Job X is paused (40%)."),
    ],
)
def test_job_summary_reads_as_a_sentence(running_job: JobView, status: str, sentence: str) -> None:
    assert job_card(replace(running_job, id="X", status=status)).summary == sentence


def ckpt(step: int, train: float, valid: float) -> CheckpointView:
    return CheckpointView(
        f"ftckpt_{step}", step, f"m:ckpt-step-{step}", train_loss=train, full_valid_loss=valid
    )


def test_overfitting_is_flagged_with_the_best_step() -> None:
    points = [ckpt(10, 1.9, 2.517), ckpt(20, 1.2, 2.700), ckpt(30, 0.6, 3.012)]
    assert overfitting_warning(points) == (
        "Validation loss rose over the last epochs (2.517 → 3.012) while training loss fell: likely "
        "overfitting. Prefer the checkpoint at step 10 (lowest validation loss), or retrain with fewer "
        "epochs or a smaller learning-rate multiplier."
    )
    card = checkpoints_card(JOB_ID, list(reversed(points)))
    assert card.tone is Tone.WARNING and card.text.startswith("Validation loss rose")
    assert card.summary.endswith("Likely overfitting.")
    both(card)


@pytest.mark.parametrize(
    "points",
    [
        # Still improving.
        [ckpt(10, 1.9, 3.0), ckpt(20, 1.2, 2.7), ckpt(30, 0.6, 2.5)],
        # Best is one of the last two.
        [ckpt(10, 1.9, 3.0), ckpt(20, 1.2, 2.5), ckpt(30, 0.6, 2.6)],
        # A flat curve: the rise is within the noise margin.
        [ckpt(10, 1.9, 2.500), ckpt(20, 1.2, 2.505), ckpt(30, 0.6, 2.510)],
        # Training loss did not fall either: not overfitting.
        [ckpt(10, 0.5, 2.5), ckpt(20, 0.6, 2.8), ckpt(30, 0.7, 3.0)],
        # Too few checkpoints to tell.
        [ckpt(10, 1.9, 2.5), ckpt(20, 1.2, 3.0)],
    ],
)
def test_no_overfitting_warning_without_the_pattern(points: list[CheckpointView]) -> None:
    assert overfitting_warning(points) == ""
    assert checkpoints_card(JOB_ID, points).tone is Tone.INFO


def test_one_checkpoint_is_singular() -> None:
    card = checkpoints_card(JOB_ID, [ckpt(10, 1.0, 2.0)])
    assert card.badge == "1 checkpoint" and card.summary.startswith("1 checkpoint of job")


def test_one_time_style_everywhere() -> None:
    moment = datetime(2026, 11, 25, 4, 16, 27, tzinfo=UTC)
    assert when(moment) == "2026-11-25 04:16 UTC"
    assert when(moment, seconds=True) == "2026-11-25 04:16:27 UTC"
    assert when(moment.replace(tzinfo=None)) == "2026-11-25 04:16 UTC"  # naive is UTC
    assert clock(moment) == "04:16:27" and day(moment) == "2026-11-25"
    assert [plural(n, "checkpoint") for n in (0, 1, 2)] == ["0 checkpoints", "1 checkpoint", "2 checkpoints"]


def test_events_of_one_day_say_the_date_once(event_page: EventPageView) -> None:
    card = events_card(event_page)
    assert card.text == f"Newest first, times in UTC on {day(T0)}."
    assert {row[0] for row in card.tables[0].rows} == {"09:15:00"}
    assert card.summary == f"11 events of job {JOB_ID}."


def test_events_over_several_days_carry_full_dates() -> None:
    events = (EventView("b", T0 + timedelta(days=1), "info", "later"), EventView("a", T0, "info", "first"))
    card = events_card(EventPageView(JOB_ID, events))
    assert [row[0] for row in card.tables[0].rows] == ["2025-04-02 09:15:00 UTC", "2025-04-01 09:15:00 UTC"]
    assert card.summary == f"2 events of job {JOB_ID}."


def test_older_events_button_and_pointer(event_page: EventPageView) -> None:
    card = events_card(event_page)
    (button,) = card.buttons
    assert (button.label, button.action) == ("Older events", "job.events")
    assert dict(button.payload) == {"job": JOB_ID, "after": event_page.next_after}
    assert card.tables[0].more == (
        f"There are older events: press **Older events** or type `/ft events {JOB_ID} --after {event_page.next_after}`"
    )


def test_slack_table_cells_drop_code_markup() -> None:
    table = Table(("Command", "What"), (("`/ft status <job>`", "uses `--limit` here"),))
    _, slack = both(Card(title="t", tables=(table,)))
    section = render_blocks(Card(title="t", tables=(table,)))["blocks"][1]["text"]["text"]
    assert "ˋ" not in slack
    assert "/ft status &lt;job&gt;  uses --limit here" in section
    assert section.count("`") == 6  # only the fences


def test_slack_keeps_a_long_last_column_whole_when_there_is_room() -> None:
    message = " ".join(["The training data contains content that resulted in a safety failure."] * 6)
    assert len(message) > 400
    table = Table(("Time", "Level", "Message"), (("04:16:27", "error", message),))
    section = render_blocks(Card(title="t", tables=(table,)))["blocks"][1]["text"]["text"]
    assert message in section


def test_slack_cuts_a_long_last_column_at_a_word_when_rows_crowd_it() -> None:
    words = "alpha beta gamma delta epsilon " * 20
    rows = tuple((str(i), words) for i in range(40))
    section = render_blocks(Card(title="t", tables=(Table(("n", "m"), rows),)))["blocks"][1]["text"]["text"]
    first_row = section.split("\n")[2]
    assert first_row.endswith("…")
    assert first_row[:-1].rstrip().split(" ")[-1] in {"alpha", "beta", "gamma", "delta", "epsilon"}


def test_cut_words_and_to_cell() -> None:
    assert cut_words("resulted in a failure", 15) == "resulted in a…"
    assert cut_words("short", 15) == "short"
    assert cut_words("x" * 30, 10) == "x" * 9 + "…"  # no space to stop at: a plain cut
    assert (
        to_cell("see `a` and [docs](https://x.y)\nnext ``` line") == "see a and docs (https://x.y) next  line"
    )


def test_usage_card_puts_the_problem_first(verbs: list[VerbHelp]) -> None:
    card = usage_card(verbs[3], problem="`--limit` must be a number.", trigger="/ft")
    lines = card.text.splitlines()
    assert lines[0] == "**Problem:** `--limit` must be a number."
    assert lines[1].startswith("Usage: ") and lines[2].startswith("Example: ")
    assert card.summary.startswith("`--limit` must be a number. Usage: /ft events")
    teams, slack = both(card)
    assert slack.index("must be a number") < slack.index("how many events")
    assert teams.index("must be a number") < teams.index("how many events")


def test_slack_rule_under_a_long_last_column_stays_short() -> None:
    table = Table(("Time", "Message"), (("04:16:27", "word " * 100),))
    section = render_blocks(Card(title="t", tables=(table,)))["blocks"][1]["text"]["text"]
    assert section.split("\n")[1] == "--------  " + "-" * 40
