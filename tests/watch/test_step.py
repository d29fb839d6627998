"""The poll as a pure step, driven by recorded Azure-shaped pages (tests/watch/pages/*.json: events newest
first, metrics every 10 steps as `Step N: training loss=...` with no total step count, Azure's ending
sequence, `-1` hyperparameters while pending, the two documented RAI failures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.azure.models import FineTuningJob, JobEvent
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from cards.serial import card_from_json, card_to_json
from handlers.watch import (
    STATUS_CHOICES,
    PollResult,
    Target,
    WatchState,
    keep_metric,
    poll_step,
    targets_for,
    unseen,
    wants_events,
)
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks

PAGES = Path(__file__).with_name("pages")
SPEC = Path(
    "/work/shared/reference/spec-excerpts/azure-authoring-2025-04-01-preview_get_finetuning_job_events.json"
)
HOME = "slack:C1"
SUBSCRIBER = "teams:19:channel"
NOW = 1764160000.0


def recorded(name: str) -> tuple[FineTuningJob, list[JobEvent]]:
    data = json.loads((PAGES / f"{name}.json").read_text())
    return FineTuningJob.model_validate(data["job"]), [
        JobEvent.model_validate(e) for e in data["events"]["data"]
    ]


def step(
    name: str, state: WatchState = WatchState(), cursor: str | None = None, targets: Any = None, **kw: Any
) -> PollResult:
    job, events = recorded(name)
    return poll_step(
        state,
        cursor,
        job,
        events,
        targets if targets is not None else [Target(HOME, stream=True)],
        now=kw.pop("now", NOW),
        interval=kw.pop("interval", 30.0),
        **kw,
    )


def ops(result: PollResult, op: str) -> list[Any]:
    return [q for q in result.queued if q.payload["op"] == op]


def text_of(result: PollResult, op: str) -> str:
    return "\n".join(
        card_from_json(q.payload["card"]).text
        + "".join(f.value for f in card_from_json(q.payload["card"]).facts)
        for q in ops(result, op)
    )


def assert_renders(result: PollResult) -> None:
    for q in result.queued:
        card = card_from_json(q.payload["card"])
        assert card_from_json(card_to_json(card)) == card
        assert_valid_blocks(render_blocks(card))
        assert_valid_adaptive(render_adaptive(card))


def test_a_running_job_streams_each_event_once_across_polls() -> None:
    first = step("02_running_step20")
    assert_renders(first)
    (batch,) = ops(first, "thread")
    assert batch.payload["anchor"].startswith("job:ftjob-") and batch.conversation_key == HOME
    text = text_of(first, "thread")
    assert "Job started." in text and "Step 20: training loss=1.41" in text
    assert first.state.step == 20 and first.state.losses == (1.92, 1.41)
    (update,) = ops(first, "update")
    assert "Step 20" in card_from_json(update.payload["card"]).text
    assert not ops(first, "post") and not first.done and first.next_poll_in == 30.0

    # The next page repeats everything older than the cursor: only the five new metrics lines are new.
    second = step("03_running_step70", first.state, first.cursor)
    new_text = text_of(second, "thread")
    assert "Job started." not in new_text and "Step 20:" not in new_text
    assert "Step 30: training loss=1.05" in new_text and "Step 70: training loss=0.43" in new_text
    assert second.state.step == 70 and second.state.losses[-1] == 0.43
    assert {q.key for q in first.queued}.isdisjoint(q.key for q in second.queued)

    # Polling again with nothing new: nothing to send, the same cursor.
    again = step("03_running_step70", second.state, second.cursor)
    assert again.queued == () and again.cursor == second.cursor


def test_the_same_inputs_give_the_same_keys() -> None:
    a, b = step("02_running_step20"), step("02_running_step20")
    assert [q.key for q in a.queued] == [q.key for q in b.queued]


def test_success_alert_has_model_tokens_duration_cost_and_buttons() -> None:
    running = step("03_running_step70")
    done = step("04_succeeded", running.state, running.cursor)
    assert_renders(done)
    (alert,) = ops(done, "post")
    assert alert.key.startswith("alert:ftjob-") and alert.key.endswith(f":succeeded:{HOME}")
    card = card_from_json(alert.payload["card"])
    facts = {f.label: f.value for f in card.facts}
    assert "gpt-4o-mini-2024-07-18.ft-" in facts["Fine-tuned model"]
    assert facts["Trained tokens"] == "46,800" and facts["Billed tokens"] == "48,213"
    assert facts["Duration"] == "16 min 37 s"  # created_at -> finished_at
    assert facts["Training cost (estimate)"].startswith("about $0.14 (gpt-4o-mini at $3.00")
    assert [b.label for b in card.buttons] == ["Checkpoints", "Events"]
    assert "Training tokens billed: 48213" in text_of(done, "thread")
    assert done.done and done.next_poll_in is None


def test_a_success_seen_before_its_trailing_lines_gets_one_closing_look() -> None:
    job, events = recorded("04_succeeded")
    tail = [
        e for e in events if not e.message.startswith(("Training tokens billed", "Completed", "Model Eval"))
    ]
    first = poll_step(WatchState(), None, job, tail, [Target(HOME, stream=True)], now=NOW, interval=5.0)
    assert len(ops(first, "post")) == 1 and not first.done and first.next_poll_in == 5.0
    closing = poll_step(
        first.state, first.cursor, job, events, [Target(HOME, stream=True)], now=NOW, interval=5.0
    )
    assert closing.done and "Training tokens billed" in text_of(closing, "thread")
    # The alert's key repeats, so the outbox keeps the one already queued.
    assert [q.key for q in ops(closing, "post")] == [q.key for q in ops(first, "post")]


@pytest.mark.parametrize(
    ("page", "title", "words", "meaning"),
    [
        (
            "05_rai_data_failure",
            "Training data rejected",
            "hate and fairness, self-harm, violence",
            "nothing was trained",
        ),
        (
            "06_rai_eval_failure",
            "failed the safety evaluation",
            "violence, self-harm",
            "keeps no deployable model",
        ),
    ],
)
def test_rai_failures_get_their_own_notice(page: str, title: str, words: str, meaning: str) -> None:
    result = step(page)
    assert_renders(result)
    (alert,) = ops(result, "post")
    card = card_from_json(alert.payload["card"])
    assert title in card.title and words in card.text and meaning in card.text
    assert "/ft validate" in card.text and "contentFilter" not in card.text
    assert result.done


def test_quiet_followers_and_subscribers_hear_only_the_ending() -> None:
    targets = [
        Target(HOME, stream=False),
        Target(SUBSCRIBER, stream=False, statuses=STATUS_CHOICES["failed"]),
    ]
    running = step("02_running_step20", targets=targets)
    assert running.queued == ()
    assert not wants_events(WatchState(status="running"), "x", "running", targets)
    done = step("04_succeeded", targets=targets)
    assert [q.conversation_key for q in done.queued] == [HOME]  # the subscriber asked for failures only
    failed = step("05_rai_data_failure", targets=targets)
    assert sorted(q.conversation_key for q in ops(failed, "post")) == sorted([HOME, SUBSCRIBER])


def test_a_subscription_does_not_replay_jobs_that_ended_before_it() -> None:
    job, _ = recorded("04_succeeded")
    assert job.finished_at is not None
    late = Target(SUBSCRIBER, stream=False, since=job.finished_at + 1)
    early = Target(SUBSCRIBER, stream=False, since=job.finished_at - 1)
    assert step("04_succeeded", targets=[late]).queued == ()
    assert len(step("04_succeeded", targets=[early]).queued) == 1


def test_queued_jobs_back_off_and_are_not_paged_when_unchanged() -> None:
    first = step("01_pending", now=NOW)
    assert first.next_poll_in == 30.0  # a new status: look again soon
    assert wants_events(WatchState(), None, "pending", [Target(HOME, stream=True)])
    assert not wants_events(first.state, first.cursor, "pending", [Target(HOME, stream=True)])
    later = step("01_pending", first.state, first.cursor, now=NOW + 600)
    assert later.next_poll_in == 120.0 and later.queued == ()
    # -1 hyperparameters (chosen later by Azure) show as such on the card, never as a number.
    card = card_from_json(ops(first, "update")[0].payload["card"])
    hyper = {f.label: f.value for f in card.facts}["Hyperparameters"]
    assert "n_epochs=auto" in hyper and "=-1" not in hyper


def test_metric_lines_are_thinned_for_long_jobs() -> None:
    events = [
        JobEvent(
            id=f"ftevent-{n:032x}",
            created_at=1000 + n,
            message=f"Step {n}: training loss={1 / n:.4f}",
            type="metrics",
            data={"step": n, "train_loss": 1 / n},
        )
        for n in range(10, 10_001, 10)
    ]
    job = FineTuningJob(id="ftjob-" + "a" * 32, status="running", model="gpt-4o-mini-2024-07-18")
    state, cursor, posted = WatchState(), None, 0
    for start in range(0, len(events), 7):  # seven metrics events per poll
        page = list(reversed(events[: start + 7]))
        result = poll_step(state, cursor, job, page, [Target(HOME, stream=True)], now=NOW, interval=1.0)
        state, cursor = result.state, result.cursor
        posted += sum(card_from_json(q.payload["card"]).text.count("Step ") for q in ops(result, "thread"))
    assert state.step == 10_000
    assert 20 <= posted <= 60
    assert keep_metric(10, 0) and not keep_metric(1010, 1000)


def test_events_from_an_oldest_first_service_are_put_in_order() -> None:
    spec = json.loads(SPEC.read_text())["responses"]["200"]["body"]["data"]
    events = [JobEvent.model_validate(e) for e in spec]
    assert [e.message for e in unseen(events, None)] == [
        "Job enqueued. Waiting for jobs ahead to complete.",
        "Job started.",
        "Job succeeded.",
    ]


def test_targets_merge_home_watchers_and_subscriptions() -> None:
    subs = [(SUBSCRIBER, STATUS_CHOICES["all"], 0.0), (HOME, STATUS_CHOICES["all"], 0.0)]
    found = {t.conversation: t for t in targets_for(HOME, {"slack:C2": "quiet"}, set(), subs)}
    assert found[HOME].stream and found[HOME].since is None
    assert not found["slack:C2"].stream and not found[SUBSCRIBER].stream
    assert targets_for(HOME, {HOME: "off"}, set(), []) == []
    assert not targets_for(HOME, {}, {HOME}, [])[0].stream  # a quiet conversation
