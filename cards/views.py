"""Small view dataclasses the builders take: plain values only, so `cards/` never imports `bot/`.

Handlers fill them from Azure objects (`JobView.from_api`-style conversion lives with the handler); times are
timezone-aware `datetime`s, `epoch()` turns the API's Unix seconds into one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Statuses after which a job never changes again (no Cancel button, no progress).
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})

HyperValue = str | int | float | bool | None


def epoch(seconds: int | float | None) -> datetime | None:
    """Unix seconds (as the API sends them) to an aware UTC datetime; `None` and 0 stay `None`."""
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds else None


@dataclass(frozen=True, slots=True)
class JobView:
    """A fine-tuning job as the cards show it."""

    id: str
    model: str
    status: str
    fine_tuned_model: str | None = None
    training_file: str | None = None
    validation_file: str | None = None
    hyperparameters: Mapping[str, HyperValue] = field(default_factory=dict)
    suffix: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    estimated_finish: datetime | None = None
    trained_tokens: int | None = None
    # Progress: `step` from the latest metrics event; `total_steps` worked out by the bot (Azure sends no
    # total) from the resolved epochs, batch size and example count, None when any of them is unknown.
    step: int | None = None
    total_steps: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    # Azure's responsible-AI (safety) check: which phase failed ("data" before training, "evaluation" after)
    # and the harmful-content categories in plain words ("violence", "self-harm"). Set by the handler.
    rai_phase: str | None = None
    rai_categories: tuple[str, ...] = ()
    # A paused job's checkpoint at the step it stopped, once Azure's safety evaluation passed it: it can be
    # deployed while the job stays paused. None before that (and for any other status).
    pause_checkpoint: CheckpointView | None = None
    # What the data check counted and the trained-token/cost estimate from it (with Azure's epochs once
    # known), e.g. "24 training examples checked · ≈6.6k trained tokens (4 epochs, Azure's choice)".
    data_note: str = ""
    # Training type as the card names it ("Global", "Developer") and what to add about it (Developer's
    # pre-emption, why this type was chosen); None when Azure did not say.
    training_type: str | None = None
    training_note: str = ""

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)
class EventView:
    """One job event (`fine_tuning.job.event`)."""

    id: str
    created_at: datetime | None
    level: str
    message: str


@dataclass(frozen=True, slots=True)
class EventPageView:
    """One page of a job's events, newest first as the service sends them.

    `next_after` is the event id to pass as `--after` for the next page; set it when `has_more`.
    """

    job_id: str
    events: tuple[EventView, ...]
    has_more: bool = False
    next_after: str | None = None


@dataclass(frozen=True, slots=True)
class CheckpointView:
    """One checkpoint (`fine_tuning.job.checkpoint`) and its metrics; `deployable` marks the last three."""

    id: str
    step: int
    model: str = ""  # fine_tuned_model_checkpoint, e.g. "gpt-4o-mini-...ft-...:ckpt-step-10"
    train_loss: float | None = None
    valid_loss: float | None = None
    full_valid_loss: float | None = None
    train_accuracy: float | None = None
    valid_accuracy: float | None = None
    created_at: datetime | None = None
    deployable: bool = False


@dataclass(frozen=True, slots=True)
class VerbHelp:
    """One chat command as the help and usage cards describe it.

    `usage` is the line after the trigger (`status <job>`), `example` a complete one (`status ftjob-abc`).
    """

    name: str
    summary: str
    usage: str
    example: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (option, what it does), e.g. ("--limit N", "events to show")
