"""Full garbage collections wait for quiet moments (bot/gc_quiet.py), judged by the adapters' work in flight
(adapters/inflight.py `all_idle`)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.inflight import InFlight, all_idle
from bot import gc_quiet


@pytest.fixture
def full_collections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the full collections from now on; the collector's thresholds are put back afterwards."""
    thresholds = gc.get_threshold()
    monkeypatch.setattr(gc_quiet, "CHECK_EVERY", 0.01)
    seen: list[int] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info.get("generation") == 2:
            seen.append(1)

    gc.callbacks.append(callback)
    try:
        yield seen
    finally:
        gc.callbacks.remove(callback)
        gc.set_threshold(*thresholds)


def promote() -> None:
    """As many middle-generation collections as make a quiet full collection worth it."""
    for _ in range(gc_quiet.WORTH_IT):
        gc.collect(1)


async def test_a_full_collection_runs_when_quiet_and_not_while_busy(full_collections: list[int]) -> None:
    busy = [True]
    gc_quiet.collect_when_quiet(quiet=lambda: not busy[0], alive=lambda: True)
    assert gc.get_threshold() == gc_quiet.THRESHOLDS
    promote()
    await asyncio.sleep(0.1)
    assert full_collections == []  # busy all along: nothing but Python's own (now rare) rule would run one
    busy[0] = False
    await asyncio.sleep(0.1)
    assert len(full_collections) == 1  # quiet: one, then no more until the old generation took more in
    promote()
    await asyncio.sleep(0.1)
    assert len(full_collections) == 2


async def test_the_checks_end_with_the_bot(full_collections: list[int]) -> None:
    alive = [True]
    gc_quiet.collect_when_quiet(quiet=lambda: True, alive=lambda: alive[0])
    alive[0] = False
    await asyncio.sleep(0.05)
    promote()
    await asyncio.sleep(0.1)
    assert full_collections == []


async def test_all_idle_sees_requests_and_work_in_flight() -> None:
    first, second = InFlight(), InFlight(limit=2)
    assert all_idle()
    with first.request():
        assert not all_idle()
    assert all_idle()
    release = asyncio.Event()
    task = asyncio.ensure_future(release.wait())
    second.track(task)
    assert not all_idle()
    release.set()
    await task
    await asyncio.sleep(0)
    assert all_idle()


async def test_the_thresholds_are_set_back_when_the_checks_end(full_collections: list[int]) -> None:
    before = gc.get_threshold()
    stop = gc_quiet.collect_when_quiet(quiet=lambda: True, alive=lambda: True)
    assert gc.get_threshold() == gc_quiet.THRESHOLDS
    stop()
    assert gc.get_threshold() == before
    stop()  # twice: harmless

    alive = [True]
    gc_quiet.collect_when_quiet(quiet=lambda: True, alive=lambda: alive[0])
    alive[0] = False
    await asyncio.sleep(gc_quiet.CHECK_EVERY + 0.05)
    assert gc.get_threshold() == before
