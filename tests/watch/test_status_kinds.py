"""Every job status Azure sends (issue 15: `pending`, `notRunning`, `queued`, `running`, `pausing`, `paused`,
`resuming`, `canceling`, `cancelled`/`canceled`, `succeeded`, `failed`) and ones it has not sent yet, through
the watcher's pure poll step: the card shows the normalised word, only the three endings alert and end the
watch, active statuses are looked at every interval and waiting or unknown ones back off."""

from __future__ import annotations

from typing import Any

import pytest

from bot.azure.models import Checkpoint, FineTuningJob, JobEvent
from cards.model import Card
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from cards.serial import card_from_json
from handlers.watch import PollResult, Target, WatchState, poll_step, wants_events
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks

JOB = "ftjob-" + "a1" * 16
HOME = "slack:C1"
NOW = 1_790_000_000.0
INTERVAL = 30.0
STREAM = [Target(HOME, stream=True)]
QUIET = [Target(HOME, stream=False)]

# (Azure's status, the word the bot shows, polled every interval while it lasts)
WAITING = [
    ("pending", "pending", False),
    ("notRunning", "not running", False),
    ("queued", "queued", False),
    ("paused", "paused", False),
]
ACTIVE = [
    ("running", "running", True),
    ("pausing", "pausing", True),
    ("resuming", "resuming", True),
    ("canceling", "cancelling", True),
]
ENDINGS = [
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("cancelled", "cancelled"),
    ("canceled", "cancelled"),
    ("Canceled", "cancelled"),
]
UNKNOWN = ["preempted", "Archived", "awaiting_capacity", "🤖 new", None, ""]


def job(status: Any, **more: Any) -> FineTuningJob:
    """A job as Azure's JSON carries it (explicit nulls included)."""
    body: dict[str, Any] = {
        "id": JOB,
        "object": "fine_tuning.job",
        "created_at": int(NOW) - 3600,
        "model": "gpt-4o-mini-2024-07-18",
        "status": status,
        "training_file": "file-" + "b2" * 16,
        "result_files": None,
        "fine_tuned_model": None,
        "finished_at": None,
        "trained_tokens": None,
        "error": None,
        "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.0},
    }
    body.update(more)
    return FineTuningJob.model_validate(body)


def poll(status: Any, state: WatchState = WatchState(), targets: Any = STREAM, **kw: Any) -> PollResult:
    return poll_step(
        state,
        kw.pop("cursor", None),
        kw.pop("the_job", None) or job(status),
        kw.pop("events", ()),
        targets,
        now=kw.pop("now", NOW),
        interval=INTERVAL,
        **kw,
    )


def cards(result: PollResult, op: str) -> list[Card]:
    return [card_from_json(q.payload["card"]) for q in result.queued if q.payload["op"] == op]


def shown(card: Card) -> str:
    """The card as a user sees it: rendered for Slack and Teams (both validated), as text."""
    blocks, adaptive = render_blocks(card), render_adaptive(card)
    assert_valid_blocks(blocks)
    assert_valid_adaptive(adaptive)
    return str(blocks) + str(adaptive)


@pytest.mark.parametrize(("raw", "word", "active"), WAITING + ACTIVE)
def test_a_status_that_is_not_an_ending_updates_the_card_and_keeps_watching(
    raw: str, word: str, active: bool
) -> None:
    first = poll(raw)
    [card] = cards(first, "update")
    facts = {f.label: f.value for f in card.facts}
    assert facts["Status"] == word
    assert card.badge.startswith(word)
    assert f"is {word}" in card.summary
    assert word in shown(card)
    assert not cards(first, "post"), "no alert before the job ends"
    assert not first.done and first.state.status == word
    assert first.next_poll_in == INTERVAL  # a new status: look again soon

    # Unchanged an hour later: active statuses are looked at every interval, the rest back off.
    later = poll(raw, first.state, cursor="ftevent-x", now=NOW + 3600)
    assert later.queued == () and not later.done
    assert later.next_poll_in == (INTERVAL if active else 4 * INTERVAL)
    # Events are paged for an unchanged job only while it is active (Azure's spelling compared as the
    # bot's word: `notRunning` is the stored `not running`, not a change on every poll).
    assert wants_events(first.state, "ftevent-x", raw, STREAM) is active


@pytest.mark.parametrize(("raw", "word"), ENDINGS)
def test_the_three_endings_alert_once_and_end_the_watch(raw: str, word: str) -> None:
    ended = job(
        raw,
        finished_at=int(NOW) - 60,
        fine_tuned_model="gpt-4o-mini-2024-07-18.ft-" + "a1" * 16 if word == "succeeded" else None,
        trained_tokens=1000 if word == "succeeded" else None,
        error={"code": "internalFailure", "message": "Training stopped."} if word == "failed" else None,
    )
    running = poll("running")
    result = poll(raw, running.state, targets=QUIET, the_job=ended)
    [alert] = [q for q in result.queued if q.payload["op"] == "post"]
    assert alert.key == f"alert:{JOB}:{word}:{HOME}"  # `canceled` and `cancelled` are one ending
    text = shown(card_from_json(alert.payload["card"]))
    assert raw not in text or raw == word
    assert result.done and result.next_poll_in is None
    assert result.state.status == word
    # A streamed job's card says the ending too.
    streamed = poll(raw, running.state, the_job=ended)
    [card] = cards(streamed, "update")
    assert {f.label: f.value for f in card.facts}["Status"] == word
    assert "Cancel" not in [b.label for b in card.buttons]


def test_a_subscriber_to_failures_hears_a_canceled_job() -> None:
    ended = job("canceled", finished_at=int(NOW))
    target = Target("teams:19:x", stream=False, statuses=frozenset({"failed", "cancelled"}), since=NOW - 10)
    result = poll("canceled", targets=[target], the_job=ended, cancelled_by="Ada")
    [card] = cards(result, "post")
    assert "Ada" in shown(card)


@pytest.mark.parametrize("raw", UNKNOWN)
def test_an_unknown_status_is_shown_as_it_came_and_never_ends_the_watch(raw: str | None) -> None:
    word = (raw or "").strip() or "unknown"
    first = poll(raw)
    [card] = cards(first, "update")
    assert {f.label: f.value for f in card.facts}["Status"] == word
    assert word in shown(card)
    assert "Cancel" in [b.label for b in card.buttons], "an unknown status may still change: Cancel stays"
    assert not cards(first, "post") and not first.done
    assert first.state.status == word

    # Unchanged: polled with back-off like a quiet job, forever until it becomes something known.
    later = poll(raw, first.state, cursor="ftevent-x", now=NOW + 3600)
    assert later.queued == () and not later.done and later.next_poll_in == 4 * INTERVAL
    assert not wants_events(first.state, "ftevent-x", raw, STREAM)

    # Then Azure says something we know: the card follows, and the ending alerts as usual.
    running = poll("running", later.state, cursor="ftevent-x", now=NOW + 3700)
    assert [c.badge for c in cards(running, "update")] == ["running"]
    ended = poll("canceled", running.state, the_job=job("canceled", finished_at=int(NOW) + 3800))
    assert ended.done and [q.key for q in ended.queued if q.payload["op"] == "post"] == [
        f"alert:{JOB}:cancelled:{HOME}"
    ]


def test_status_changes_between_spellings_of_one_status_are_not_changes() -> None:
    first = poll("canceling")
    again = poll("cancelling", first.state, cursor="ftevent-x")
    assert again.queued == () and again.state.changed_at == first.state.changed_at
    not_running = poll("notRunning")
    assert poll("not_running", not_running.state, cursor="ftevent-x").queued == ()


def test_events_during_a_pause_are_streamed() -> None:
    events = [
        JobEvent.model_validate(
            {"id": "ftevent-2", "created_at": int(NOW), "level": "info", "message": "Job paused."}
        ),
        JobEvent.model_validate(
            {"id": "ftevent-1", "created_at": int(NOW) - 20, "level": "info", "message": "Pausing job."}
        ),
    ]
    result = poll("paused", events=events)
    [batch] = cards(result, "thread")
    assert "Pausing job." in batch.text and "Job paused." in batch.text
    assert result.cursor == "ftevent-2"


def test_a_watched_paused_job_card_offers_its_checkpoint_once_azure_made_it() -> None:
    point = Checkpoint.model_validate(
        {
            "id": "ftchkpt-" + "c3" * 16,
            "created_at": int(NOW),
            "step_number": 31,
            "fine_tuned_model_checkpoint": "gpt-4o-mini-2024-07-18.ft-x:ckpt-step-31",
            "metrics": {"step": 31.0, "valid_loss": 0.42},
        }
    )
    paused = poll("paused", poll("running").state)
    [card] = cards(paused, "update")
    assert "Deploy this checkpoint" not in [b.label for b in card.buttons]
    assert "evaluates it for safety" in card.text

    # Azure has evaluated and made the checkpoint: the card is updated to offer it (a key of its own, so the
    # outbox does not take it for the paused update already sent).
    made = poll("paused", paused.state, cursor="ftevent-x", pause_checkpoint=point)
    [card] = cards(made, "update")
    [deploy] = [b for b in card.buttons if b.label == "Deploy this checkpoint"]
    assert deploy.payload["checkpoint"] == point.id and deploy.payload["model"].endswith(":ckpt-step-31")
    text = shown(card)
    assert f"Paused at step 31: checkpoint `{point.id}`" in text and "validation loss 0.420" in text
    assert made.queued[0].key != paused.queued[0].key and point.id in made.queued[0].key
    assert made.state.pause_checkpoint == point.id

    # Later polls (the runner no longer looks for it) change nothing; resuming takes the offer away.
    assert poll("paused", made.state, cursor="ftevent-x").queued == ()
    resumed = poll("resuming", made.state, cursor="ftevent-x")
    [card] = cards(resumed, "update")
    assert "Deploy this checkpoint" not in [b.label for b in card.buttons]
    assert resumed.state.pause_checkpoint is None
