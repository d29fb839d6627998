"""Readable failures on bad days, through the real Slack adapter: a full disk while spooling, a Slack download
that is slow or stuck, and Azure throttling with a long Retry-After (say when to retry, do not hang)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from emulator import datasets
from emulator.faults import FaultSpec
from handlers import data
from tests.robust.conftest import StartBot, answer, slash
from tests.slack.fake_slack_api import FakeSlackApi

MODEL = "gpt-4o-mini-2024-07-18"
GOOD = datasets.path("good_training").read_bytes()


@pytest.fixture
def spool_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder the bot spools into, watched by the test."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


class FullDisk(io.FileIO):
    """A spool file on a disk with no space left: the first write fails as the kernel would make it."""

    def write(self, _: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


async def test_a_full_disk_while_spooling_is_said_plainly(
    slack_bot: StartBot,
    slack_api: FakeSlackApi,
    emulator: Any,
    spool_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_open = open

    def full_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "w" in mode and spool_root in Path(path).parents:
            return FullDisk(path, "wb")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(data, "open", full_open, raising=False)
    slack_api.share_file("F0GOOD0001", "train.jsonl", GOOD)
    async with slack_bot() as bot:
        await slash(bot, f"start {MODEL} --training F0GOOD0001")
        said = await answer(slack_api, bot)
    assert "the bot's disk is full" in said and "nothing was uploaded" in said
    assert "something went wrong" not in said
    assert emulator.state.counters["files.upload"] == 0
    assert not list(spool_root.iterdir())  # noqa: ASYNC240 - the partial copy and its folder are gone


@contextlib.asynccontextmanager
async def _slow_slack_file(slack_api: FakeSlackApi, handler: Any) -> AsyncIterator[None]:
    # Served by the stand-in Web API itself (Slack's own origin), so the bot sends its token there as to Slack.
    shared = slack_api.share_file("F0SLOW0001", "train.jsonl", b"")
    shared.serve = handler
    yield


async def test_a_stuck_slack_download_gets_a_deadline_and_a_readable_answer(
    slack_bot: StartBot, slack_api: FakeSlackApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "READ_TIMEOUT", 0.3)
    release = asyncio.Event()

    async def stuck(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(GOOD[:100])
        await release.wait()  # then nothing, with the connection open
        return response

    try:
        async with _slow_slack_file(slack_api, stuck), slack_bot() as bot:
            await slash(bot, "validate F0SLOW0001")
            said = await answer(slack_api, bot)
    finally:
        release.set()
    assert "could not download `train.jsonl`: nothing arrived for 0.3 seconds" in said
    assert "try again later" in said


async def test_a_trickling_slack_download_is_cut_off_at_the_deadline(
    slack_bot: StartBot, slack_api: FakeSlackApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT", 0.5)

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for byte in GOOD * 100:
            await response.write(bytes([byte]))
            await asyncio.sleep(0.02)
        return response

    async with _slow_slack_file(slack_api, trickle), slack_bot() as bot:
        await slash(bot, "validate F0SLOW0001")
        said = await answer(slack_api, bot)
    assert "could not download `train.jsonl`: it did not finish within 0.5 seconds" in said


async def test_azure_throttling_with_a_long_retry_after_says_when_to_retry(
    slack_bot: StartBot, slack_api: FakeSlackApi, emulator: Any
) -> None:
    emulator.state.faults.set("dataplane", FaultSpec(throttle=1.0, retry_after=180))
    async with slack_bot() as bot:
        # `status` of a job unknown here asks Azure at once (`list` reads this channel's jobs from the store).
        await slash(bot, "status ftjob-0123456789abcdef0123456789abcdef")
        said = await answer(slack_api, bot)
    assert "azure is throttling; try again in about 3 minutes" in said
    # Reported at once, not slept through or hammered: Azure saw the one request.
    assert emulator.state.faults.injected == {"dataplane.throttle": 1}
