"""`AckFirst`: work scheduled by a request waits until no Slack request is being answered."""

from __future__ import annotations

import asyncio

import pytest

from adapters.slack import AckFirst


async def _turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_work_waits_for_requests_in_flight() -> None:
    gate = AckFirst(max_hold=60)
    started: list[str] = []

    async def work() -> None:
        started.append("work")

    with gate:
        task = asyncio.create_task(gate.then(work()))
        with gate:  # a second request arrives
            await _turns()
        await _turns()
        assert started == []  # the first request is still being answered
    await task
    assert started == ["work"]


async def test_work_starts_at_once_when_idle() -> None:
    gate = AckFirst(max_hold=60)
    done = asyncio.Event()

    async def work() -> None:
        done.set()

    await gate.then(work())
    assert done.is_set()


async def test_hold_is_capped() -> None:
    gate = AckFirst(max_hold=0)
    done = asyncio.Event()

    async def work() -> None:
        done.set()

    with gate:  # never leaves: only the cap lets the work run
        await gate.then(work())
    assert done.is_set()


async def test_cancelled_before_start_closes_the_work() -> None:
    gate = AckFirst(max_hold=60)

    async def work() -> None:
        raise AssertionError("must not run")

    with gate:
        task = asyncio.create_task(gate.then(work()))
        await _turns()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
