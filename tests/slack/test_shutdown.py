"""Shutdown is bounded: acknowledged work gets a grace period, then it is cancelled; late requests get 503."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.slack.conftest import SlackHarness


async def test_close_cancels_work_that_outlives_the_grace(
    harness: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    await harness.command("slow")  # its handler waits on a gate nobody opens, like a stuck Azure call
    await harness.handled.gate_reached.wait()
    (task,) = harness.adapter._tasks

    with caplog.at_level(logging.WARNING, logger="adapters.slack"):
        await harness.adapter.close(grace=0.01)

    assert task.cancelled()
    assert harness.adapter._tasks == set()
    assert harness.adapter.session is None
    assert harness.slack.called("chat.postMessage") == []
    assert any("cancelled 1 unfinished task" in r.message for r in caplog.records)


async def test_close_lets_work_finish_within_the_grace(harness: SlackHarness) -> None:
    await harness.command("slow")
    await harness.handled.gate_reached.wait()
    (task,) = harness.adapter._tasks
    # Generous grace: the gate opens on the next loop turns, long before it runs out.
    closing = asyncio.create_task(harness.adapter.close(grace=60))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not closing.done()
    harness.handled.gate.set()
    await closing

    assert not task.cancelled()
    assert len(harness.slack.called("chat.postMessage")) == 1


async def test_requests_after_close_are_refused_and_start_nothing(harness: SlackHarness) -> None:
    await harness.adapter.close(grace=0.01)
    resp = await harness.command("status ftjob-abc")

    assert resp.status == 503
    assert harness.handled.commands == []
    assert harness.adapter._tasks == set()


async def test_work_arriving_after_close_is_dropped_not_orphaned(harness: SlackHarness) -> None:
    await harness.adapter.close(grace=0.01)
    ran: list[str] = []

    async def work() -> None:
        ran.append("ran")

    # What a request already past the door when shutdown finished would do.
    harness.adapter._spawn(work(), "slash command")
    await asyncio.sleep(0)

    assert harness.adapter._tasks == set()
    assert ran == []


async def test_a_request_in_flight_when_close_starts_is_still_served(
    harness: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiohttp runs on_shutdown (our close) before it waits for requests in flight: close must wait for them.
    adapter = harness.adapter
    reached, release = asyncio.Event(), asyncio.Event()
    dispatch = adapter.bolt.async_dispatch

    async def held_dispatch(request: Any) -> Any:
        reached.set()
        await release.wait()
        return await dispatch(request)

    monkeypatch.setattr(adapter.bolt, "async_dispatch", held_dispatch)
    posting = asyncio.create_task(harness.command("status ftjob-abc"))
    async with asyncio.timeout(10):  # a safety net against a hang only
        await reached.wait()
    closing = asyncio.create_task(adapter.close(grace=60))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not closing.done()  # the request has not started its work yet, but it is in flight
    release.set()
    resp = await posting
    await closing

    assert resp.status == 200
    assert len(harness.handled.commands) == 1
    assert len(harness.slack.called("chat.postMessage")) == 1
