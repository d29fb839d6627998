"""Resource limits: checks run on their own bounded pool (global and per-user limits, "busy, N ahead of you"
instead of an unbounded queue), a data URL's size is judged before decoding, and a gzip bomb is inflated in
bounded steps."""

from __future__ import annotations

import asyncio
import base64
import gzip
import threading
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.checks import CheckPool
from bot.dataprep import validator
from bot.dataprep.images import MAX_IMAGE_BYTES, check_image_url, image_tokens
from bot.dataprep.validator import validate_path
from bot.errors import Busy
from emulator import datasets
from handlers.data import DataError, download
from tests.robust.conftest import StartBot, answer, slash
from tests.slack import payloads
from tests.slack.fake_slack_api import FakeSlackApi
from tests.support import serve


class Blocker:
    """A check that holds its thread until released (the stand-in for a big file)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.threads: list[str] = []

    def __call__(self, *, cancel: threading.Event | None = None) -> str:
        self.threads.append(threading.current_thread().name)
        self.started.release()
        while not self.release.wait(0.01):
            if cancel is not None and cancel.is_set():
                return "cancelled"
        return "done"

    async def wait_started(self, count: int) -> None:
        for _ in range(count):
            await asyncio.to_thread(self.started.acquire, True, 5)


@pytest.fixture
async def pool() -> AsyncIterator[CheckPool]:
    checks = CheckPool(workers=2, queue=1, per_user=2, max_wait=5)
    yield checks
    checks.close()


async def test_a_user_over_their_share_is_told_at_once(pool: CheckPool) -> None:
    blocker = Blocker()
    mine = [asyncio.create_task(pool.run("slack:U1", blocker)) for _ in range(2)]
    await blocker.wait_started(2)
    with pytest.raises(Busy, match="You already have 2 data checks running or waiting"):
        await pool.run("slack:U1", blocker)
    blocker.release.set()
    assert await asyncio.gather(*mine) == ["done", "done"]
    assert all(name.startswith("ftbot-check") for name in blocker.threads)  # not asyncio's default executor


async def test_past_the_queue_the_answer_says_how_many_are_ahead(pool: CheckPool) -> None:
    blocker = Blocker()
    running = [asyncio.create_task(pool.run(f"slack:U{i}", blocker)) for i in range(2)]
    await blocker.wait_started(2)
    queued = asyncio.create_task(pool.run("slack:U3", blocker))
    await asyncio.sleep(0.05)
    assert (pool.running, pool.waiting) == (2, 1)
    with pytest.raises(Busy, match="3 data checks ahead of you \\(2 running, 1 waiting\\)"):
        await pool.run("slack:U4", blocker)
    blocker.release.set()
    assert await asyncio.gather(*running, queued) == ["done"] * 3
    assert (pool.running, pool.waiting) == (0, 0)


async def test_a_queued_check_gives_up_after_its_wait() -> None:
    pool = CheckPool(workers=1, queue=1, per_user=1, max_wait=0.2)
    blocker = Blocker()
    try:
        first = asyncio.create_task(pool.run("a", blocker))
        await blocker.wait_started(1)
        with pytest.raises(Busy, match=r"waited 0\.2 s behind 1 data check"):
            await pool.run("b", blocker)
        assert pool.waiting == 0
        blocker.release.set()
        assert await first == "done"
    finally:
        pool.close()


async def test_a_cancelled_check_stops_its_thread_and_frees_the_slot(pool: CheckPool) -> None:
    blocker = Blocker()
    task = asyncio.create_task(pool.run("a", blocker, cancel=threading.Event()))
    await blocker.wait_started(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):  # the thread sees its cancel event within one poll
        if pool.running == 0:
            break
        await asyncio.sleep(0.01)
    assert pool.running == 0


async def test_dns_is_not_held_up_by_checks(pool: CheckPool) -> None:
    """Full check pool: the default executor (getaddrinfo, file writes) still answers at once."""
    blocker = Blocker()
    busy = [asyncio.create_task(pool.run(f"u{i}", blocker)) for i in range(3)]
    await blocker.wait_started(2)
    async with asyncio.timeout(5):
        assert await asyncio.get_running_loop().getaddrinfo("localhost", 80)
    blocker.release.set()
    await asyncio.gather(*busy)


async def test_chat_answers_busy_when_the_checks_are_full(
    slack_bot: StartBot, slack_api: FakeSlackApi
) -> None:
    slack_api.share_file("F0GOOD0001", "train.jsonl", datasets.path("good_training").read_bytes())
    async with slack_bot(validation_workers=1, validation_queue=0) as bot:
        assert bot.ctx.checks is not None
        blocker = Blocker()
        big = asyncio.create_task(bot.ctx.checks.run("teams:someone-else", blocker))
        await blocker.wait_started(1)
        await slash(bot, "validate F0GOOD0001")
        said = await answer(slack_api, bot)
        blocker.release.set()
        await big
    assert "the bot is busy" in said and "1 data check ahead of you" in said
    assert "try again in a few minutes" in said


async def test_chat_answers_a_user_over_their_share(slack_bot: StartBot, slack_api: FakeSlackApi) -> None:
    slack_api.share_file("F0GOOD0001", "train.jsonl", datasets.path("good_training").read_bytes())
    async with slack_bot(validations_per_user=1) as bot:
        assert bot.ctx.checks is not None
        blocker = Blocker()
        mine = asyncio.create_task(bot.ctx.checks.run(f"slack:{payloads.USER}", blocker))
        await blocker.wait_started(1)
        await slash(bot, "validate F0GOOD0001")
        said = await answer(slack_api, bot)
        blocker.release.set()
        await mine
    assert "you already have 1 data check running or waiting" in said


def test_an_oversized_data_url_is_refused_before_decoding() -> None:
    payload = "A" * (64 * 1024 * 1024)  # 48 MB once decoded; never decoded
    url = f"data:image/png;base64,{payload}"
    tracemalloc.start()
    try:
        reason = check_image_url(url)
        tokens = image_tokens(url, "high")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reason is not None and "limit is 10 MB" in reason
    assert tokens > 0
    assert peak < 4 * 1024 * 1024  # a decode would have allocated 48 MB
    assert MAX_IMAGE_BYTES == 10 * 1024 * 1024


def _bomb(size: int) -> bytes:
    out = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * (1 << 20)
    return b"".join(out.compress(block) for _ in range(size >> 20)) + out.flush()


async def test_a_gzip_bomb_costs_bounded_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validator, "MAX_FILE_BYTES", 64 * 1024 * 1024)  # the 512 MB check, scaled down
    bomb = _bomb(200 * 1024 * 1024)
    assert len(bomb) < 300_000

    async def handler(_: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/jsonl"}
        )

    app = web.Application()
    app.router.add_get("/bomb.jsonl", handler)
    async with serve(app) as url:
        tracemalloc.start()
        try:
            with pytest.raises(DataError, match="larger than 64 MB"):
                await download(f"{url}/bomb.jsonl", tmp_path, local=True)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"peak {peak / 2**20:.0f} MB"
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - the partial copy is gone


@pytest.mark.parametrize("encoding", ["gzip", "deflate-zlib", "deflate-raw", "identity"])
async def test_compressed_downloads_arrive_whole(tmp_path: Path, encoding: str) -> None:
    content = datasets.path("good_training").read_bytes() * 50
    if encoding == "gzip":
        body, header = gzip.compress(content), "gzip"
    elif encoding == "deflate-zlib":
        body, header = zlib.compress(content), "deflate"
    elif encoding == "deflate-raw":
        raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        body, header = raw.compress(content) + raw.flush(), "deflate"
    else:
        body, header = content, "identity"

    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Encoding": header})

    app = web.Application()
    app.router.add_get("/train.jsonl", handler)
    async with serve(app) as url:
        spooled = await download(f"{url}/train.jsonl", tmp_path, local=True)
    assert spooled.path.read_bytes() == content and spooled.size == len(content)


async def test_an_encoding_we_do_not_read_is_refused(tmp_path: Path) -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=b"\x28\xb5\x2f\xfd", headers={"Content-Encoding": "zstd"})

    app = web.Application()
    app.router.add_get("/train.jsonl", handler)
    async with serve(app) as url:
        with pytest.raises(DataError, match="`zstd`-compressed"):
            await download(f"{url}/train.jsonl", tmp_path, local=True)


def test_a_real_image_over_the_cap_is_refused_by_size() -> None:
    payload = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (MAX_IMAGE_BYTES + 10)).decode()
    assert "limit is 10 MB" in (check_image_url(f"data:image/png;base64,{payload}") or "")


def test_a_huge_image_line_is_not_copied_over_and_over(tmp_path: Path) -> None:
    """One line holding a 16 MB data URL: refused for its size, with the line held about twice at most
    (the joined line and one decode), not four times as before."""
    payload = "A" * (16 * 1024 * 1024)
    line = (
        '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,'
        + payload
        + '"}}]},{"role":"assistant","content":"x"}]}\n'
    ).encode()
    path = tmp_path / "huge.jsonl"
    path.write_bytes(datasets.path("good_training").read_bytes() + line)
    del payload, line
    tracemalloc.start()
    try:
        report = validate_path(path, count_tokens=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [e.code for e in report.errors] == ["invalid_image"]
    assert peak < 2.5 * 16 * 1024 * 1024, f"peak {peak / 2**20:.0f} MB"


def test_a_slot_is_freed_even_when_its_event_loop_is_gone() -> None:
    pool = CheckPool(workers=1, queue=1, per_user=1)
    blocker = Blocker()

    async def start_and_leave() -> None:
        asyncio.get_running_loop().create_task(pool.run("a", blocker))
        await blocker.wait_started(1)  # the loop then ends (and closes) with the check still running

    try:
        asyncio.run(start_and_leave())
        blocker.release.set()
        deadline = time.monotonic() + 5
        while pool.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool.running == 0
        assert asyncio.run(pool.run("b", lambda: "ok")) == "ok"
    finally:
        pool.close()
