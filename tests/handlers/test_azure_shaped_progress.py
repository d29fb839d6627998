"""The bot's job cards and progress against Azure-shaped pages recorded from real runs, not the emulator's.

Fixtures (tests/fixtures/azure/*.json) are written from two published transcripts of real Azure OpenAI runs:
a gpt-4o-mini run (May 2025, 10 examples) and a gpt-4.1 run (September 2025, 40 examples). Azure sends no step
total: metrics events every 10 steps say `Step N: training loss=...`, and the bot works out the total from the
resolved epochs, batch size and the training file's example count. The pages are served over HTTP by a stand-in
of the data plane, so the real `AzureOpenAIClient` reads them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.azure.dataplane import AzureOpenAIClient
from bot.azure.models import Checkpoint, FineTuningJob, JobEvent
from cards.checkpoints import checkpoints_card
from cards.events import events_card
from cards.jobs import job_card, status_sentence
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from cards.views import EventPageView, EventView, epoch
from handlers import jobs as job_handlers
from handlers.jobs import checkpoint_view, job_view, latest_progress, planned_steps, training_examples
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks
from tests.support import serve

FIXTURES = Path(__file__).parent.parent / "fixtures" / "azure"
RUNS = ("gpt-4o-mini-2025-05", "gpt-4.1-2025-09")


def recorded(run: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{run}.json").read_text())
    return data


def as_of_step(run: dict[str, Any], step: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The job and its newest events as they stood when `step` had just been written: the recorded page with
    the later events left out and the job still running."""
    job = copy.deepcopy(run["job_succeeded"])
    job.update(
        status="running", finished_at=None, fine_tuned_model=None, result_files=None, trained_tokens=None
    )
    events = [
        e for e in run["events_page"]["data"] if e["type"] == "metrics" and (e["data"] or {})["step"] <= step
    ]
    return job, {"object": "list", "data": events, "has_more": True}


def data_plane(job: dict[str, Any], events: dict[str, Any], lines: int | None) -> web.Application:
    """A stand-in data plane serving one job, its events page and its training file (`lines` examples)."""
    content = b"".join(b'{"messages": []}\n' for _ in range(lines or 0))

    async def get_job(request: web.Request) -> web.Response:
        return web.json_response(job)

    async def get_events(request: web.Request) -> web.Response:
        return web.json_response(events)

    async def get_file(request: web.Request) -> web.Response:
        if lines is None:
            return web.json_response({"error": {"code": "notFound", "message": "gone"}}, status=404)
        body = {
            "object": "file",
            "id": request.match_info["fid"],
            "bytes": len(content),
            "status": "processed",
        }
        return web.json_response(body)

    async def get_content(request: web.Request) -> web.Response:
        return web.Response(body=content)

    app = web.Application()
    app.router.add_get("/openai/fine_tuning/jobs/{jid}", get_job)
    app.router.add_get("/openai/fine_tuning/jobs/{jid}/events", get_events)
    app.router.add_get("/openai/files/{fid}", get_file)
    app.router.add_get("/openai/files/{fid}/content", get_content)
    return app


@pytest.fixture(autouse=True)
def forget_counts() -> None:
    job_handlers._EXAMPLES.clear()


async def card_for(job: dict[str, Any], events: dict[str, Any], lines: int | None) -> Any:
    async with serve(data_plane(job, events, lines)) as url:
        client = AzureOpenAIClient(url, api_key="k")
        try:
            parsed = await client.get_job(job["id"])
            progress = await latest_progress(client, parsed)
            examples = await training_examples(client, parsed)
        finally:
            await client.aclose()
    view = job_view(parsed, progress, examples)
    card = job_card(view)
    assert_valid_adaptive(render_adaptive(card))
    assert_valid_blocks(render_blocks(card))
    return view, card


@pytest.mark.parametrize(
    ("run", "step", "bar"),
    [
        # 40 examples, batch 1, 3 epochs: the run ended at step 120.
        ("gpt-4.1-2025-09", 80, "66% (step 80/120)"),
        # 10 examples, batch 1, 10 epochs (a small set gets more epochs): the run ended at step 100.
        ("gpt-4o-mini-2025-05", 70, "70% (step 70/100)"),
    ],
)
async def test_progress_from_resolved_hyperparameters_and_the_files_example_count(
    run: str, step: int, bar: str
) -> None:
    recording = recorded(run)
    job, events = as_of_step(recording, step)
    view, card = await card_for(job, events, recording["training_examples"])
    assert view.step == step and bar in card.text
    assert card.badge == f"running {bar.split('%')[0]}%"


async def test_without_an_example_count_the_card_says_step_n() -> None:
    recording = recorded("gpt-4.1-2025-09")
    job, events = as_of_step(recording, 110)
    view, card = await card_for(job, events, None)  # the training file cannot be read
    assert view.step == 110 and view.total_steps is None
    assert "Step 110 (total not known yet)" in card.text and "%" not in card.text
    assert card.badge == "running · step 110"
    assert status_sentence(view) == f"Job {job['id']} is running (step 110)."


async def test_pending_job_with_minus_one_defaults_has_no_total() -> None:
    recording = recorded("gpt-4.1-2025-09")
    job = recording["job_pending"]
    pending = FineTuningJob.model_validate(job)
    assert planned_steps(pending, recording["training_examples"]) is None  # n_epochs/batch_size still -1
    view = job_view(pending)
    card = job_card(view)
    facts = {f.label: f.value for f in card.facts}
    assert (
        "n_epochs=auto" in facts["Hyperparameters"]
        and "learning_rate_multiplier=2.0" in facts["Hyperparameters"]
    )
    assert "Estimated finish" in facts and view.step is None and "step" not in card.text.lower()


@pytest.mark.parametrize("run", RUNS)
def test_recorded_pages_parse_and_render(run: str) -> None:
    recording = recorded(run)
    done = FineTuningJob.model_validate(recording["job_succeeded"])
    events = [JobEvent.model_validate(e) for e in recording["events_page"]["data"]]
    newest_step = next(e for e in events if e.is_metrics)
    view = job_view(done, newest_step, recording["training_examples"])
    assert view.step == view.total_steps  # the last metrics event is the last step
    card = job_card(view)
    assert f"Ready to deploy as `{done.fine_tuned_model}`." in card.text and card.badge == "succeeded"
    # Azure's messages shown as written (the full float, no total).
    page = EventPageView(
        done.id,
        tuple(EventView(e.id, epoch(e.created_at), e.level, e.message) for e in events),
        has_more=True,
        next_after=events[-1].id,
    )
    rendered = events_card(page)
    assert_valid_adaptive(render_adaptive(rendered))
    assert_valid_blocks(render_blocks(rendered))
    assert events[0].message.startswith("Training tokens billed: ")
    assert int(events[0].message.rsplit(" ", 1)[1]) != done.trained_tokens
    # Checkpoints newest first; the newest one is the fine-tuned model itself.
    checkpoints = [Checkpoint.model_validate(c) for c in recording["checkpoints_page"]["data"]]
    assert checkpoints[0].fine_tuned_model_checkpoint == done.fine_tuned_model
    views = [checkpoint_view(c, deployable=True) for c in checkpoints]
    assert [v.step for v in views] == sorted((v.step for v in views), reverse=True)
    table = checkpoints_card(done.id, views, job_status=done.status)
    assert_valid_adaptive(render_adaptive(table))
    assert_valid_blocks(render_blocks(table))
