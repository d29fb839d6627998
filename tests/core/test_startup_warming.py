"""What start-up builds after `/healthz` answers (issue 17) is not needed for that answer, and a request that
needs it before the warm-up got to it builds it (or waits for it) instead of failing.

Here: the Azure data-plane client (its HTTP stack, httpcore). With the warm-up held back, a `list --all` typed in
the local chat page right after start-up reaches the embedded emulator and is answered with a card."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import bot.app
import bot.warmup
from bot.app import start_bot
from bot.config import load_settings
from bot.warmup import WarmUp
from tests.webchat.conftest import DirectLineClient, cards


def _settings(tmp_path: Path) -> Any:
    return load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'ftbot.db'}")


async def test_a_command_before_the_warm_up_builds_the_data_client_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = asyncio.Event()
    real_run = WarmUp.run

    async def held_back(warm_up: WarmUp) -> None:
        await held.wait()  # the warm-up has not run yet when the command arrives
        await real_run(warm_up)

    monkeypatch.setattr(WarmUp, "run", held_back)
    running = await start_bot(_settings(tmp_path), host="127.0.0.1", port=0)
    try:
        assert running.ctx.azure._data == {}, "built before /healthz answered"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{running.url}/healthz") as response:
                assert response.status == 200
            dl = await DirectLineClient(http, running.url).connect("alice")
            await dl.say("list --all")  # read from Azure (the embedded emulator), not from the store
            seen = await dl.wait_for(lambda acts: any(cards(a) for a in acts))
        answer = json.dumps([card for activity in seen for card in cards(activity)])
        assert "Fine-tuning jobs" in answer
        assert running.ctx.azure._data, "the command built the data-plane client"
    finally:
        held.set()
        await running.close()


async def test_the_warm_up_builds_the_data_client_right_after_start(tmp_path: Path) -> None:
    running = await start_bot(_settings(tmp_path), host="127.0.0.1", port=0)
    try:
        assert running.ctx.azure._data == {}
        await running.warming
        assert running.ctx.azure._data, "built by the warm-up, before any command needs it"
    finally:
        await running.close()


async def test_closing_the_bot_sets_the_collectors_thresholds_back(tmp_path: Path) -> None:
    import gc

    from bot import gc_quiet

    before = gc.get_threshold()
    running = await start_bot(_settings(tmp_path), host="127.0.0.1", port=0)
    try:
        await running.warming
        assert gc.get_threshold() == gc_quiet.THRESHOLDS
    finally:
        await running.close()
    assert gc.get_threshold() == before


async def test_handlers_that_do_not_load_make_the_bot_unhealthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise ImportError("cannot import name 'router' from 'handlers.jobs'")  # a bad deploy

    monkeypatch.setattr(bot.app, "_load_handlers", broken)
    running = await start_bot(_settings(tmp_path), host="127.0.0.1", port=0)
    try:
        await running.warming
        async with aiohttp.ClientSession() as http, http.get(f"{running.url}/healthz") as response:
            assert response.status == 503  # the load balancer or the operator sees it
            assert (await response.json())["handlers"] is False
        assert "could not load the handlers" in caplog.text
    finally:
        await running.close()


async def test_the_warm_up_waits_for_the_first_healthy_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its imports would compete with that answer for the interpreter (bench/startup.py: ~0.1 s later)."""
    loads: list[float] = []
    real_load = bot.app._load_handlers
    monkeypatch.setattr(bot.warmup, "GRACE", 30.0)
    monkeypatch.setattr(bot.app, "_load_handlers", lambda: (loads.append(1), real_load())[1])
    running = await start_bot(_settings(tmp_path), host="127.0.0.1", port=0)
    try:
        await asyncio.sleep(0.3)
        assert not loads and not running.warming.done()
        async with aiohttp.ClientSession() as http, http.get(f"{running.url}/healthz") as response:
            assert response.status == 200
        await asyncio.wait_for(running.warming, 10)
        assert loads  # by the warm-up (and again, a no-op, when the routers are composed)
    finally:
        await running.close()


async def test_without_a_probe_the_warm_up_starts_after_the_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.warmup, "GRACE", 0.05)
    running = await start_bot(_settings(tmp_path), host="127.0.0.1", port=0)
    try:
        await asyncio.wait_for(running.warming, 10)  # no /healthz asked
        assert running.ctx.azure._data, "the warm-up ran"
    finally:
        await running.close()
