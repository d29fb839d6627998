"""Shared sample views for the card tests, shaped like the service's own examples (spec-excerpts)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cards.views import CheckpointView, EventPageView, EventView, JobView, VerbHelp

JOB_ID = "ftjob-72a2792ef7d24ba7b82c7fe4a37e379f"
T0 = datetime(2025, 4, 1, 9, 15, tzinfo=UTC)


@pytest.fixture
def running_job() -> JobView:
    return JobView(
        id=JOB_ID,
        model="gpt-4o-mini-2024-07-18",
        status="running",
        training_file="file-181a1cbdcdcf4677ada87f63a0928099",
        validation_file="file-2b3c",
        hyperparameters={"n_epochs": 3, "batch_size": -1, "learning_rate_multiplier": None},
        created_at=T0,
        estimated_finish=datetime(2025, 4, 1, 10, 0, tzinfo=UTC),
        step=120,
        total_steps=300,
    )


@pytest.fixture
def verbs() -> list[VerbHelp]:
    return [
        VerbHelp("help", "Show the commands", "help [command]", "help status"),
        VerbHelp("list", "Recent fine-tuning jobs", "list [--status S] [--limit N]", "list --status running"),
        VerbHelp("status", "One job's status", "status <job>", f"status {JOB_ID}"),
        VerbHelp(
            "events",
            "A job's events",
            "events <job> [--limit N] [--after ID]",
            f"events {JOB_ID} --limit 20",
            options=(("--limit N", "how many events (1-100)"), ("--after ID", "events older than ID")),
        ),
        VerbHelp("checkpoints", "A job's checkpoints", "checkpoints <job>", f"checkpoints {JOB_ID}"),
    ]


@pytest.fixture
def event_page() -> EventPageView:
    events = tuple(
        EventView(f"ftevent-{i:032x}", T0, "info", f"Step {300 - i}/300: training loss=0.{i:02d}")
        for i in range(10)
    )
    errored = (EventView("ftevent-err", T0, "error", "Validation file has 3 malformed lines <x> & more"),)
    return EventPageView(JOB_ID, errored + events, has_more=True, next_after=events[-1].id)


@pytest.fixture
def checkpoints() -> list[CheckpointView]:
    model = f"gpt-35-turbo-0613.ft-{JOB_ID[6:]}"
    return [
        CheckpointView(
            "ftckpt_c", 30, f"{model}:ckpt-step-30", 0.155, 9.1, 0.291, 0.95, 0.15, deployable=True
        ),
        CheckpointView("ftckpt_a", 10, f"{model}:ckpt-step-10", 0.478, 10.112, 0.567, 0.924, 0.145),
        CheckpointView(
            "ftckpt_b", 20, f"{model}:ckpt-step-20", 0.355, 11.32, 0.317, 0.947, 0.122, deployable=True
        ),
    ]
