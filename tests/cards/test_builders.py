"""Every builder's card: its content, and that it renders valid both ways (Adaptive Card 1.5, Block Kit)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from cards.checkpoints import DEPLOYABLE_MARK, checkpoints_card
from cards.errors import error_card, not_found_card
from cards.events import events_card
from cards.format import progress_bar
from cards.help import help_card, unknown_verb_card, usage_card
from cards.jobs import CANCEL, CHART, CHECKPOINTS, EVENTS, PAUSE, REFRESH, RESUME, job_card, job_list_card
from cards.model import Card, Tone
from cards.payload import unpack_slack, unpack_teams
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from cards.views import CheckpointView, EventPageView, JobView, VerbHelp, epoch
from tests.cards.conftest import JOB_ID
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks


def rendered_both_ways(card: Card) -> tuple[dict[str, Any], dict[str, Any]]:
    teams, slack = render_adaptive(card), render_blocks(card)
    assert_valid_adaptive(teams)
    assert_valid_blocks(slack)
    return teams, slack


def slack_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def teams_actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    return list(card.get("actions", []))


@pytest.mark.parametrize(
    ("step", "total", "bar"),
    [
        (120, 300, "▓▓▓▓░░░░░░ 40% (step 120/300)"),
        (0, 300, "░░░░░░░░░░ 0% (step 0/300)"),
        (300, 300, "▓▓▓▓▓▓▓▓▓▓ 100% (step 300/300)"),
        (29, 100, "▓▓░░░░░░░░ 29% (step 29/100)"),
        (400, 300, "▓▓▓▓▓▓▓▓▓▓ 100% (step 400/300)"),
        (None, 300, ""),
        (5, 0, ""),
        (5, None, ""),
    ],
)
def test_progress_bar(step: int | None, total: int | None, bar: str) -> None:
    assert progress_bar(step, total) == bar


def test_running_job_card(running_job: JobView) -> None:
    card = job_card(running_job, updated_at_text="Updated 09:20 UTC")
    assert card.tone is Tone.RUNNING
    assert card.badge == "running 40%"
    assert card.key == f"job:{JOB_ID}"
    assert "▓▓▓▓░░░░░░ 40% (step 120/300)" in card.text
    facts = {f.label: f.value for f in card.facts}
    assert facts["Hyperparameters"] == "n_epochs=3, batch_size=auto, learning_rate_multiplier=auto"
    assert facts["Created"] == "2025-04-01 09:15 UTC"
    assert facts["Estimated finish"] == "2025-04-01 10:00 UTC"
    assert "file-2b3c" in facts["Training file"]
    teams, slack = rendered_both_ways(card)

    buttons = slack_buttons(slack)
    assert [b["text"]["text"] for b in buttons] == ["Refresh", "Events", "Chart", "Pause", "Cancel"]
    unpacked = [unpack_slack(b["action_id"], b["value"]) for b in buttons]
    assert [(u.action, dict(u.payload)) for u in unpacked if u] == [
        (REFRESH, {"job": JOB_ID}),
        (EVENTS, {"job": JOB_ID}),
        (CHART, {"job": JOB_ID}),
        (PAUSE, {"job": JOB_ID}),
        (CANCEL, {"job": JOB_ID}),
    ]
    cancel = buttons[4]
    assert cancel["style"] == "danger" and cancel["confirm"]["confirm"]["text"] == "Yes, cancel it"
    assert cancel["confirm"]["deny"]["text"] == "Keep it running"

    actions = teams_actions(teams)
    assert [a["type"] for a in actions] == [
        "Action.Execute",
        "Action.Execute",
        "Action.Execute",
        "Action.Execute",
        "Action.ShowCard",
    ]
    assert actions[0]["fallback"]["type"] == "Action.Submit"
    assert unpack_teams(actions[0]["data"]).action == REFRESH  # type: ignore[union-attr]
    assert actions[4]["title"] == "Cancel"
    yes = actions[4]["card"]["actions"][0]
    assert yes["type"] == "Action.Execute" and yes["title"] == "Yes, cancel it"
    assert actions[4]["card"]["body"][-1]["text"] == "Keep it running? Click Cancel again to close this."
    assert unpack_teams(yes["fallback"]["data"]).payload == {"job": JOB_ID}  # type: ignore[union-attr]
    assert "Updated 09:20 UTC" in json.dumps(slack["blocks"][-1])


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_terminal_jobs_have_no_cancel_button(running_job: JobView, status: str) -> None:
    job = replace(
        running_job, status=status, finished_at=epoch(1743500000), fine_tuned_model="gpt-4o-mini.ft-x"
    )
    card = job_card(job)
    # A succeeded job offers its checkpoints (the deployable ones); no finished job offers Cancel.
    expected = [REFRESH, EVENTS, CHART, CHECKPOINTS] if status == "succeeded" else [REFRESH, EVENTS, CHART]
    assert [b.action for b in card.buttons] == expected
    assert card.badge == status
    assert "Finished" in {f.label for f in card.facts}
    _, slack = rendered_both_ways(card)
    assert CANCEL not in json.dumps(slack)


def test_paused_job_offers_resume_not_pause(running_job: JobView) -> None:
    card = job_card(replace(running_job, status="paused"))
    assert [b.action for b in card.buttons] == [REFRESH, EVENTS, CHART, RESUME, CHECKPOINTS, CANCEL]
    assert card.buttons[3].label == "Resume" and dict(card.buttons[3].payload) == {"job": JOB_ID}
    rendered_both_ways(card)


@pytest.mark.parametrize("status", ["pausing", "resuming", "pending", "validating_files"])
def test_jobs_in_transition_offer_neither_pause_nor_resume(running_job: JobView, status: str) -> None:
    actions = [b.action for b in job_card(replace(running_job, status=status)).buttons]
    assert PAUSE not in actions and RESUME not in actions and CANCEL in actions


def test_job_card_note_comes_first(running_job: JobView) -> None:
    card = job_card(running_job, note="120 examples, 45,000 tokens, no problems found.")
    assert card.text.splitlines()[0] == "120 examples, 45,000 tokens, no problems found."
    assert "▓▓▓▓" in card.text.splitlines()[1]
    _, slack = rendered_both_ways(card)
    assert "45,000 tokens" in json.dumps(slack)


def test_failed_job_shows_the_error_not_the_progress(running_job: JobView) -> None:
    job = replace(
        running_job, status="failed", error_code="invalid_training_file", error_message="Line 3: bad JSON"
    )
    card = job_card(job)
    assert card.tone is Tone.ERROR
    assert "invalid_training_file" in card.text and "Line 3: bad JSON" in card.text
    assert "▓" not in card.text
    rendered_both_ways(card)


def test_unknown_status_is_neutral_and_still_renders(running_job: JobView) -> None:
    card = job_card(replace(running_job, status="frobnicating", step=None))
    assert card.tone is Tone.NEUTRAL
    assert card.badge == "frobnicating"
    rendered_both_ways(card)


def test_job_list_card(running_job: JobView) -> None:
    jobs = [running_job, replace(running_job, id="ftjob-b", status="succeeded", fine_tuned_model="m.ft-b")]
    card = job_list_card(jobs, filter_text="status=any", more="More: `list --after ftjob-b`")
    assert card.tables[0].rows[0][1] == "running 40%"
    assert card.tables[0].rows[1][2] == "m.ft-b"
    assert "status=any" in card.title and "status=any" in card.footer
    teams, slack = rendered_both_ways(card)
    assert "list --after ftjob-b" in json.dumps(slack) and "list --after ftjob-b" in json.dumps(teams)


def test_empty_filtered_job_list_names_the_filter_and_the_way_out() -> None:
    card = job_list_card([], filter_text="status=failed")
    assert card.text == "No recent jobs match status=failed. `/ft list` without it shows every recent job."
    assert card.summary == "No fine-tuning jobs match status=failed."
    rendered_both_ways(card)


def test_empty_job_list_points_at_start() -> None:
    card = job_list_card([])
    assert card.text.startswith("No fine-tuning jobs yet. Start one:")
    assert "`/ft start gpt-4o-mini-2024-07-18 --training train.jsonl`" in card.text
    assert "`/ft help start`" in card.text
    rendered_both_ways(card)


def test_job_list_counts_are_plural_only_when_more_than_one(running_job: JobView) -> None:
    one = job_list_card([running_job])
    assert one.summary == "1 fine-tuning job." and "Showing 1 job." in one.text
    assert job_list_card([running_job] * 2).summary == "2 fine-tuning jobs."


def test_events_card_points_at_the_next_page(event_page: EventPageView) -> None:
    card = events_card(event_page)
    assert card.tone is Tone.WARNING and card.badge == "1 error"
    table = card.tables[0]
    assert table.columns == ("Time (UTC)", "Level", "Message")
    assert len(table.rows) == 11
    assert f"events {JOB_ID} --after {event_page.next_after}" in table.more
    assert dict(card.buttons[0].payload) == {"job": JOB_ID, "after": event_page.next_after}
    teams, slack = rendered_both_ways(card)
    text = json.dumps(slack)
    assert "&lt;x&gt; &amp; more" in text  # event text escaped for mrkdwn
    assert "--after" in json.dumps(teams)


def test_events_card_without_events_or_more() -> None:
    assert "No events yet" in events_card(EventPageView(JOB_ID, ())).text
    rendered_both_ways(events_card(EventPageView(JOB_ID, ())))


def test_checkpoints_card_marks_deployable_ones(checkpoints: list[CheckpointView]) -> None:
    card = checkpoints_card(JOB_ID, checkpoints)
    rows = card.tables[0].rows
    assert [r[0] for r in rows] == ["10", "20", "30"]  # by step
    assert [r[-1] for r in rows] == ["", DEPLOYABLE_MARK, DEPLOYABLE_MARK]
    assert rows[0][1:5] == ("0.478", "0.567", "92.4%", "14.5%")  # full validation loss preferred
    assert "step **30**" in card.text and "ckpt-step-30" in card.text
    rendered_both_ways(card)


def test_checkpoints_card_before_any_deployable(checkpoints: list[CheckpointView]) -> None:
    card = checkpoints_card(JOB_ID, [replace(c, deployable=False) for c in checkpoints])
    assert "None can be deployed yet" in card.text
    rendered_both_ways(card)
    rendered_both_ways(checkpoints_card(JOB_ID, []))


@pytest.mark.parametrize(("status", "said"), [("failed", "failed"), ("cancelled", "was cancelled")])
def test_checkpoints_of_a_dead_job_cannot_be_deployed(
    checkpoints: list[CheckpointView], status: str, said: str
) -> None:
    card = checkpoints_card(JOB_ID, [replace(c, deployable=False) for c in checkpoints], job_status=status)
    assert f"This job {said}; its checkpoints cannot be deployed." in card.text
    assert "None can be deployed yet" not in card.text
    rendered_both_ways(card)


def test_help_card_lists_every_verb(verbs: list[VerbHelp]) -> None:
    card = help_card(verbs, trigger="/ft")
    assert not card.tables
    for verb in verbs:
        assert f"• `/ft {verb.usage}`: {verb.summary}" in card.text.splitlines()
    rendered_both_ways(card)


def test_help_card_never_cuts_a_long_usage(verbs: list[VerbHelp]) -> None:
    usage = "start <model> --training SRC [--validation SRC] [--suffix S] [--seed N] [--epochs N]"
    card = help_card([*verbs, VerbHelp("start", "Start a job", usage)], trigger="@ftbot")
    teams, slack = rendered_both_ways(card)
    assert f"`@ftbot {usage.replace('<', '&lt;').replace('>', '&gt;')}`" in json.dumps(slack)
    # Teams has no inline code: the usage shows whole, without the marks.
    assert f"@ftbot {usage}" in json.dumps(teams)
    assert "`" not in json.dumps(teams)
    rendered_both_ways(help_card(verbs, trigger="@ftbot"))


def test_usage_card_has_usage_and_example(verbs: list[VerbHelp]) -> None:
    card = usage_card(verbs[3], problem="`--limit` must be a number.", trigger="@ftbot")
    assert card.tone is Tone.WARNING
    assert "Usage: `@ftbot events <job> [--limit N] [--after ID]`" in card.text
    assert f"Example: `@ftbot events {JOB_ID} --limit 20`" in card.text
    assert [f.label for f in card.facts] == ["--limit N", "--after ID"]
    rendered_both_ways(card)


def test_unknown_verb_card_offers_the_suggestion_first(verbs: list[VerbHelp]) -> None:
    card = unknown_verb_card("stauts", verbs, trigger="/ft", suggestion="status")
    assert card.text.splitlines()[0] == "Did you mean `/ft status`?"
    assert "/ft status" in card.summary
    rendered_both_ways(card)
    assert "Did you mean" not in unknown_verb_card("stauts", verbs).text


def test_unknown_verb_card(verbs: list[VerbHelp]) -> None:
    card = unknown_verb_card("nonsense" * 20, verbs)
    assert "`help`, `list`, `status`, `events`, `checkpoints`" in card.text
    assert "Example: `/ft help status`" in card.text
    assert len(card.text) < 400
    rendered_both_ways(card)


def test_error_card_never_shows_a_traceback() -> None:
    message = (
        "Azure said 500.\nTraceback (most recent call last):\n"
        '  File "/app/bot/azure.py", line 10, in get\n    raise X\nRuntimeError: boom'
    )
    card = error_card("Azure is not answering", message, hint="Try again in a minute.", request_id="req-123")
    assert "Traceback" not in card.text and "azure.py" not in card.text
    assert card.text.startswith("Azure said 500.")
    assert "**What to do:** Try again in a minute." in card.text
    assert card.footer == "Request id: `req-123`"
    rendered_both_ways(card)


def test_error_card_keeps_long_messages_short() -> None:
    card = error_card("Bad", "x" * 10_000)
    assert len(card.text) <= 600
    assert error_card("Bad", "   ").text == "Something went wrong."


def test_not_found_card() -> None:
    card = not_found_card("job", "ftjob-0000")
    assert card.title == "Job not found" and "`ftjob-0000`" in card.text and "`/ft list`" in card.text
    rendered_both_ways(card)
