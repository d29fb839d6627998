"""The job-status normaliser: every status Azure sends on the dated and v1 APIs, and ones it has not sent yet."""

from __future__ import annotations

import json

import pytest

from bot.azure.models import FineTuningJob, JobStatus, StatusKind, is_terminal, normalise_status
from cards.jobs import job_card, status_tone
from cards.model import Tone
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from handlers.jobs import job_view
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks

KNOWN = [
    ("pending", StatusKind.WAITING, "pending"),
    ("notRunning", StatusKind.WAITING, "not running"),
    ("queued", StatusKind.WAITING, "queued"),
    ("validating_files", StatusKind.WAITING, "validating_files"),
    ("created", StatusKind.WAITING, "created"),
    ("running", StatusKind.RUNNING, "running"),
    ("pausing", StatusKind.PAUSING, "pausing"),
    ("paused", StatusKind.PAUSED, "paused"),
    ("resuming", StatusKind.RESUMING, "resuming"),
    ("canceling", StatusKind.CANCELLING, "cancelling"),
    ("cancelled", StatusKind.CANCELLED, "cancelled"),
    ("canceled", StatusKind.CANCELLED, "cancelled"),
    ("succeeded", StatusKind.SUCCEEDED, "succeeded"),
    ("failed", StatusKind.FAILED, "failed"),
    # Other casings and separators Azure's surfaces use (ARM-style capitals, snake case).
    ("Succeeded", StatusKind.SUCCEEDED, "succeeded"),
    ("Canceled", StatusKind.CANCELLED, "cancelled"),
    ("not_running", StatusKind.WAITING, "not running"),
    ("NotRunning", StatusKind.WAITING, "not running"),
    ("validatingFiles", StatusKind.WAITING, "validating_files"),
]
UNKNOWN = ["archived", "Preempted", "awaiting_capacity", "🤖"]
TERMINAL = {StatusKind.SUCCEEDED, StatusKind.FAILED, StatusKind.CANCELLED}


@pytest.mark.parametrize(("raw", "kind", "word"), KNOWN)
def test_known_statuses(raw: str, kind: StatusKind, word: str) -> None:
    normal = normalise_status(raw)
    assert (normal.kind, normal.word, normal.raw) == (kind, word, raw)
    assert normal.terminal is (kind in TERMINAL)
    assert is_terminal(raw) is (kind in TERMINAL)
    # The card has a tone for every word the normaliser produces: none is shown as "unknown".
    assert status_tone(normal.word) is not Tone.NEUTRAL


@pytest.mark.parametrize("raw", UNKNOWN)
def test_unknown_statuses_are_kept_as_they_came(raw: str) -> None:
    normal = normalise_status(raw)
    assert normal.kind is StatusKind.UNKNOWN
    assert normal.word == raw
    assert not normal.terminal and not is_terminal(raw)
    assert status_tone(normal.word) is Tone.NEUTRAL


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_missing_status_is_unknown(raw: str | None) -> None:
    normal = normalise_status(raw)
    assert (normal.kind, normal.word) == (StatusKind.UNKNOWN, "unknown")


def test_job_status_enum_reads_canceled() -> None:
    assert JobStatus.parse("canceled") is JobStatus.CANCELLED
    assert FineTuningJob.model_validate({"id": "ftjob-1", "status": "canceled"}).is_terminal


@pytest.mark.parametrize("raw", [raw for raw, _, _ in KNOWN] + UNKNOWN)
def test_job_card_shows_the_normalised_status_on_both_platforms(raw: str) -> None:
    job = FineTuningJob.model_validate({"id": "ftjob-abc", "model": "gpt-4o-mini-2024-07-18", "status": raw})
    view = job_view(job)
    normal = normalise_status(raw)
    assert view.status == normal.word
    card = job_card(view)
    assert card.tone is status_tone(normal.word)
    teams, slack = render_adaptive(card), render_blocks(card)
    assert_valid_adaptive(teams)
    assert_valid_blocks(slack)
    shown = json.dumps(teams, ensure_ascii=False) + json.dumps(slack, ensure_ascii=False)
    assert normal.word.replace("_", " ") in shown or normal.word in shown
    # A finished job offers no Cancel; one that can still change does.
    cancel = any("Cancel" in json.dumps(a) for a in teams.get("actions", []))
    assert cancel is not normal.terminal
