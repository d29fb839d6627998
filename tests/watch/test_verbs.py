"""The watcher's verbs through the dispatcher (the whole bot on the in-process emulator): what they store
and what they answer; every card valid on both platforms."""

from __future__ import annotations

from typing import Any

from bot.app import RunningBot
from bot.model import Action
from tests.handlers.test_jobs_flow import ALICE, CHANNEL, UNKNOWN_JOB, card_text, run, started_job


async def test_watch_unwatch_and_quiet(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await started_job(running_bot, emulator)
    (reply,) = await run(running_bot, f"watch {job_id} --quiet")
    assert job_id in reply.card.title and "only the final result" in card_text(reply)
    assert reply.card.key == f"job:{job_id}"  # the card events thread into
    assert await running_bot.store.watchers_of([job_id]) == {job_id: {CHANNEL.key: "quiet"}}
    await run(running_bot, f"watch {job_id}")
    assert await running_bot.store.watchers_of([job_id]) == {job_id: {CHANNEL.key: "stream"}}
    (stopped,) = await run(running_bot, f"unwatch {job_id}")
    assert "Stopped watching" in stopped.card.title
    assert await running_bot.store.watchers_of([job_id]) == {job_id: {CHANNEL.key: "off"}}
    (quiet,) = await run(running_bot, "quiet on")
    assert "only their final result" in card_text(quiet)
    assert await running_bot.store.quiet_conversations([CHANNEL.key]) == {CHANNEL.key}
    (missing,) = await run(running_bot, f"watch {UNKNOWN_JOB}")
    assert "not" in card_text(missing).lower()  # a readable "not found", not a trace


async def test_subscribe_list_and_unsubscribe(running_bot: RunningBot) -> None:
    (none,) = await run(running_bot, "subscriptions")
    assert "None" in card_text(none)
    (done,) = await run(running_bot, "subscribe --status failed")
    assert "Subscribed" in done.card.title and "cancelled and failed" in card_text(done)
    (listed,) = await run(running_bot, "subscriptions")
    assert "cancelled, failed" in card_text(listed)
    (bad,) = await run(running_bot, "subscribe --status maybe")
    assert "--status" in card_text(bad)
    (gone,) = await run(running_bot, "unsubscribe")
    assert gone.card.title == "Unsubscribed"
    (again,) = await run(running_bot, "unsubscribe")
    assert again.card.title == "Nothing to unsubscribe"


async def test_checkpoints_button_of_a_success_alert(running_bot: RunningBot, emulator: Any) -> None:
    job_id = await started_job(running_bot, emulator)
    emulator.advance(3600)
    replies = await running_bot.dispatcher.on_action(
        Action("job.checkpoints", {"job": job_id}, ALICE, CHANNEL, "slack")
    )
    (reply,) = replies
    assert reply.in_thread and job_id in card_text(reply)
    assert card_text(reply).count("✓") >= 3  # the deployable checkpoints of the finished job are marked
