"""`chart` through the dispatcher against the emulator: a finished job from its results file, a running job
from its metrics events ("so far"), a job that never trained, usage errors, and `chart_replies` for the
watcher's success alert."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from bot.app import RunningBot
from bot.model import Action
from handlers.chart import chart_replies
from tests.charts.azure_jobs import finished_job
from tests.handlers.test_jobs_flow import ALICE, CHANNEL, card_text, run, started_job


async def test_finished_job_chart_reads_the_results_file(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await finished_job(emulator)
    (reply,) = await run(running_bot, f"chart {job_id} --metric both")
    card = reply.card
    assert card.title == f"Training chart · {job_id}" and card.badge == "succeeded"
    assert [c.title for c in card.charts] == ["Loss", "Mean token accuracy"]
    text = card_text(reply)
    assert "Checkpoint to deploy: `ftchkpt-" in text and "Full validation loss: final" in text
    assert "No sign of overfitting" in text
    assert card.tables[0].native and len(card.tables[0].rows) == 3


async def test_the_loss_chart_offers_accuracy_too(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await finished_job(emulator)
    (reply,) = await run(running_bot, f"chart {job_id}")
    (button,) = reply.card.buttons
    assert button.label == "Loss and accuracy" and dict(button.payload) == {"job": job_id, "metric": "both"}
    click = Action(button.action, button.payload, ALICE, CHANNEL, "slack")
    (more,) = await running_bot.dispatcher.on_action(click)
    assert more.in_thread and [c.title for c in more.card.charts] == ["Loss", "Mean token accuracy"]
    assert more.card.buttons == ()


async def test_running_job_is_drawn_so_far_from_its_events(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await started_job(running_bot, emulator)
    emulator.advance(400)  # queue and set-up (150 s), then ~33 steps: metrics every 10
    (reply,) = await run(running_bot, f"chart {job_id}")
    card = reply.card
    assert card.title == f"Training so far · {job_id}"
    assert card.charts and card.charts[0].title.startswith("Loss so far (step ")
    assert "No checkpoint is deployable yet: the job is still running." in card.text
    assert len(card.charts[0].series[0].points) >= 1


async def test_a_job_that_never_trained_says_so(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await started_job(running_bot, emulator)  # still validating files: nothing to draw
    (reply,) = await run(running_bot, f"chart {job_id}")
    assert reply.card.charts == ()
    assert "The results file has no values to draw yet." in reply.card.text


async def test_bad_metric_gets_the_usage(running_bot: RunningBot) -> None:
    (reply,) = await run(running_bot, "chart ftjob-" + "0" * 32 + " --metric speed")
    assert "--metric" in card_text(reply)


async def test_chart_replies_for_the_success_alert(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await finished_job(emulator, validation=False)
    (reply,) = await chart_replies(running_bot.ctx, job_id)
    assert reply.in_thread and reply.card.charts
    assert "No validation data: cannot judge overfitting." in reply.card.text


def test_importing_the_bot_does_not_load_the_plotting_stack() -> None:
    code = (
        "import sys, bot.app; bot.app.build_router(); import adapters.slack, adapters.teams; "
        "print(sorted(m for m in ('numpy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
