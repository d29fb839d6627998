"""A pause that is worth something (issue 15): start a job, let it train some steps, pause it; once Azure
(the emulator) has evaluated the checkpoint made where it stopped, the refreshed job card offers "Deploy this
checkpoint", whose press opens an approval request (the same flow as the checkpoints card's Deploy) and,
approved, deploys that checkpoint at ARM. The whole bot, its Azure clients over HTTP, the emulator's clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import RunningBot, start_bot
from bot.azure.models import Checkpoint, FineTuningJob, JobEvent
from bot.config import Roles
from bot.model import Action, Reply, User
from cards.approvals import REQUEST
from cards.jobs import DEPLOY_PAUSED
from cards.model import Button, Card
from cards.serial import card_from_json
from handlers.paused import pause_checkpoint, paused_since
from tests.conftest import bot_settings
from tests.handlers.test_jobs_flow import ALICE, CHANNEL, card_text, run

MODEL = "gpt-4o-mini-2024-07-18"
BOB = User("U2", "Bob")  # the approver


@pytest.fixture
async def bot(emulator: Any, tmp_path: Path) -> AsyncIterator[RunningBot]:
    """The whole bot against the in-process emulator, with an ARM token (deployments) and an approver."""
    settings = bot_settings(
        emulator,
        tmp_path,
        azure_static_token="emulator-token-not-secret",
        roles=Roles(approvers=[BOB.id], operators=[BOB.id]),
        watch_interval=0.3,  # the job card in the channel is watched too
    )
    running = await start_bot(settings)
    running.ctx.local_files = True
    try:
        yield running
    finally:
        await running.close()


def button(reply: Reply, label: str) -> Button | None:
    return next((b for b in reply.card.buttons if b.label == label), None)


async def press(bot: RunningBot, b: Button, user: User = ALICE) -> list[Reply]:
    return await bot.dispatcher.on_action(Action(b.action, dict(b.payload), user, CHANNEL, "slack"))


async def refresh(bot: RunningBot, job_id: str) -> Reply:
    [card] = await bot.dispatcher.on_action(Action("job.refresh", {"job": job_id}, ALICE, CHANNEL, "slack"))
    assert card.replace_source and card.card.key == f"job:{job_id}"
    return card


async def paused_job(bot: RunningBot, emulator: Any) -> tuple[str, Any]:
    """Started with `start`, trained past its first epoch (24 steps), paused with the card's button."""
    [started] = await run(bot, f"start {MODEL} --training good_training --validation good_validation")
    assert started.card.key is not None
    job_id = started.card.key.removeprefix("job:")
    emulator.advance(30 + 120 + 7.5 * 31)  # queue, set-up, 31 steps
    running = await refresh(bot, job_id)
    assert "running" in card_text(running), card_text(running)
    pause = button(running, "Pause")
    assert pause is not None and button(running, DEPLOY_PAUSED) is None
    [pausing] = await press(bot, pause)
    assert "pausing" in card_text(pausing)
    emulator.advance(25)  # pausing -> paused
    return job_id, emulator.state.default_account.jobs[job_id]


async def test_a_paused_job_offers_its_checkpoint_and_the_press_asks_for_approval(
    bot: RunningBot, emulator: Any
) -> None:
    job_id, emulated = await paused_job(bot, emulator)
    epoch_end = {c.id for c in emulated.checkpoints}  # the first epoch's checkpoint, made while running
    assert epoch_end, "the job trained past its first epoch"

    # Paused, the safety evaluation of its checkpoint still running: nothing to deploy yet, and the card
    # says what will come.
    waiting = await refresh(bot, job_id)
    text = card_text(waiting)
    assert "Status: paused" in text
    assert "evaluates it for safety" in text and "Refresh" in text
    assert button(waiting, DEPLOY_PAUSED) is None
    assert button(waiting, "Resume") is not None

    emulator.advance(70)  # the evaluation passed: Azure has made the checkpoint
    [made] = [c for c in emulated.checkpoints if c.id not in epoch_end]
    assert made.paused_evaluated and made.step > 24
    card = await refresh(bot, job_id)
    text = card_text(card)
    deploy = button(card, DEPLOY_PAUSED)
    assert deploy is not None, text
    assert deploy.action == REQUEST
    assert deploy.payload["checkpoint"] == made.id and deploy.payload["job"] == job_id
    assert deploy.payload["model"] == made.model  # `<model>:ckpt-step-N`, what ARM deploys
    assert f"Paused at step {made.step}: checkpoint `{made.id}`" in text
    assert f"`{made.model}`" in text and "can be deployed while the job stays paused" in text
    assert not any(c in text for c in epoch_end), "an earlier epoch's checkpoint is not the pause's"

    # The watched job card in the channel (the watcher's update, through the outbox) offers it too.
    async def watched_offer() -> Card | None:
        for row in await bot.store.outbox_rows():
            if str(row["dedupe_key"]).startswith(f"card:{job_id}:paused:") and made.id in row["dedupe_key"]:
                return card_from_json(row["payload"]["card"])
        return None

    async with asyncio.timeout(15):
        while (watched := await watched_offer()) is None:  # noqa: ASYNC110 - the watcher runs on its own
            await asyncio.sleep(0.1)
    [offer] = [b for b in watched.buttons if b.label == DEPLOY_PAUSED]
    assert offer.payload == deploy.payload

    # The checkpoints card agrees: the pause checkpoint alone is marked, with its own Deploy button.
    [points] = await run(bot, f"checkpoints {job_id}")
    assert "where the job paused" in card_text(points)
    assert [b.label for b in points.card.buttons if b.action == REQUEST] == [f"Deploy step {made.step}"]

    # The press opens an approval request for that checkpoint (nothing is deployed yet).
    [request] = await press(bot, deploy)
    shown = card_text(request)
    assert request.card.key is not None and request.card.key.startswith("approval:")
    assert request.card.title.startswith("Deploy ") and request.card.badge == "awaiting approval"
    assert f"Model: `{made.model}` (checkpoint at step {made.step}" in shown
    assert f"Job: `{job_id}`" in shown
    assert "paused" in shown
    [approval] = await bot.store.open_approvals("default")
    assert (approval.model, approval.job_id, approval.checkpoint_step) == (made.model, job_id, made.step)
    assert (await bot.store.recent_audit(5))[0].action == "deploy.request"
    assert not emulator.state.default_account.deployments

    # Approved by the approver, the checkpoint is deployed at ARM.
    approve = button(request, "Approve")
    assert approve is not None
    [approved] = await press(bot, approve, BOB)
    assert "Approved by Bob" in card_text(approved), card_text(approved)
    [deployed] = emulator.state.default_account.deployments.values()
    assert deployed.model["name"] == made.model and deployed.custom_model is not None


async def test_a_request_for_a_paused_checkpoint_is_not_deployed_once_the_job_resumed(
    bot: RunningBot, emulator: Any
) -> None:
    job_id, _ = await paused_job(bot, emulator)
    emulator.advance(70)
    deploy = button(await refresh(bot, job_id), DEPLOY_PAUSED)
    assert deploy is not None
    [request] = await press(bot, deploy)
    await run(bot, f"resume {job_id}")
    emulator.advance(30)
    approve = button(request, "Approve")
    assert approve is not None
    [answer] = await press(bot, approve, BOB)
    text = card_text(answer)
    assert "failed" in text and "no longer paused" in text, text
    assert not emulator.state.default_account.deployments


async def test_typing_deploy_with_a_paused_job_points_at_its_checkpoint(
    bot: RunningBot, emulator: Any
) -> None:
    job_id, emulated = await paused_job(bot, emulator)
    emulator.advance(70)
    made = max(emulated.checkpoints, key=lambda c: c.step)
    [answer] = await run(bot, f"deploy {job_id}")
    assert f"deploy {made.id}" in card_text(answer) and "is paused" in card_text(answer)
    [request] = await run(bot, f"deploy {made.id} --name paused-ckpt")
    assert request.card.badge == "awaiting approval", card_text(request)
    assert f"checkpoint at step {made.step}" in card_text(request)


# -- the rule, on Azure-shaped pages -------------------------------------------------------------------------


def _event(n: int, at: int, message: str, kind: str = "message") -> JobEvent:
    return JobEvent.model_validate(
        {"id": f"ftevent-{n}", "created_at": at, "level": "info", "message": message, "type": kind}
    )


def _checkpoint(n: int, at: int, step: int) -> Checkpoint:
    return Checkpoint.model_validate(
        {"id": f"ftchkpt-{n:032x}", "created_at": at, "step_number": step, "metrics": {"step": float(step)}}
    )


def test_the_pause_checkpoint_is_the_one_made_since_the_latest_pause() -> None:
    paused = FineTuningJob.model_validate({"id": "ftjob-1", "status": "paused"})
    events = [  # newest first, as Azure sends them
        _event(6, 1000, "Job paused."),
        _event(5, 980, "Pausing job."),
        _event(4, 970, "Step 40: training loss=0.5", "metrics"),
        _event(3, 900, "Job resumed."),
        _event(2, 500, "Job paused."),
        _event(1, 480, "Pausing job."),
    ]
    assert paused_since(events) == 980
    earlier_pause = _checkpoint(1, 560, 20)
    epoch_end = _checkpoint(2, 960, 24)
    assert pause_checkpoint(paused, events, [epoch_end, earlier_pause]) is None  # still being evaluated
    made = _checkpoint(3, 1060, 41)
    assert pause_checkpoint(paused, events, [made, epoch_end, earlier_pause]) == made
    # Not paused (any spelling of another status), or no pause in the events: nothing to offer.
    for status in ("running", "resuming", "succeeded", "preempted"):
        job = FineTuningJob.model_validate({"id": "ftjob-1", "status": status})
        assert pause_checkpoint(job, events, [made]) is None
    assert pause_checkpoint(paused, events[2:3], [made]) is None
