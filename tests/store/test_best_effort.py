"""`bot.store.health.best_effort`: bookkeeping bounded in time. A store that is slow but committing (a flood)
is not an outage: nothing is skipped afterwards. A store whose writes do not commit is: the next seconds'
bookkeeping is skipped at once, so every answer does not wait out the bound again."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.store.health import best_effort


class _Batch:
    def __init__(self) -> None:
        self.last_commit = float("-inf")


class _Store:
    def __init__(self) -> None:
        self.batch = _Batch()


async def _slow(seconds: float, store: _Store | None = None, commit_after: float | None = None) -> str:
    if commit_after is not None and store is not None:
        await asyncio.sleep(commit_after)
        store.batch.last_commit = asyncio.get_running_loop().time()  # another write's commit lands meanwhile
        seconds -= commit_after
    await asyncio.sleep(seconds)
    return "done"


async def test_slow_while_committing_is_not_an_outage(caplog: pytest.LogCaptureFixture) -> None:
    store = _Store()
    with caplog.at_level(logging.INFO, logger="bot.store.health"):
        got = await best_effort(
            _slow(1.0, store, commit_after=0.05), "remember the card", default="late", within=0.2, store=store
        )
    assert got == "late"
    assert any(r.getMessage().startswith("slow: remember the card") for r in caplog.records)
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)
    # Nothing held off: the next bookkeeping runs (and here finishes in time).
    assert await best_effort(_slow(0.01), "record the event", default="skipped", store=store) == "done"


async def test_no_commit_within_the_bound_holds_off_bookkeeping(caplog: pytest.LogCaptureFixture) -> None:
    store = _Store()
    with caplog.at_level(logging.INFO, logger="bot.store.health"):
        got = await best_effort(_slow(1.0), "remember the card", default="late", within=0.1, store=store)
    assert got == "late"
    assert any("carrying on without it" in r.getMessage() for r in caplog.records)
    started = time.monotonic()
    work = _slow(5.0)
    assert await best_effort(work, "record the event", default="skipped", store=store) == "skipped"
    assert time.monotonic() - started < 0.05  # answered at once, the work never started
    assert work.cr_frame is None  # closed, not left pending


async def test_a_failure_holds_off_bookkeeping_even_while_committing() -> None:
    store = _Store()
    store.batch.last_commit = asyncio.get_running_loop().time()

    async def fails() -> str:
        raise OSError("disk full")

    assert await best_effort(fails(), "save the conversation", default="no", store=store) == "no"
    assert await best_effort(_slow(0.01), "record the event", default="skipped", store=store) == "skipped"
