"""Progress lines of a download by URL (what `start --training https://...` and Teams attachments use): the
size comes from the answer's Content-Length (not from a compressed one), and a slow download says how far it
got, at most every `EVERY` seconds and at each quarter. A real HTTP server on loopback serves the file."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

import pytest
from aiohttp import web

import handlers.progress
from emulator import datasets
from handlers.data import download
from handlers.progress import Progress, size_text
from tests.support import serve

GOOD = datasets.path("good_training").read_bytes()


class Lines:
    """What the adapter would show, in order."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    async def __call__(self, text: str) -> None:
        self.shown.append(text)


def test_sizes_read_as_people_say_them() -> None:
    assert size_text(12_582_912) == "12 MB"
    assert size_text(13_000_000) == "12.4 MB"
    assert size_text(10_240) == "10 KB"
    assert size_text(10) == "1 KB"


async def test_the_first_line_names_the_file_and_its_size_from_content_length(tmp_path: Path) -> None:
    async def plain(request: web.Request) -> web.Response:
        return web.Response(body=GOOD)

    async def gzipped(request: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(GOOD), headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/train.jsonl", plain)
    app.router.add_get("/packed.jsonl", gzipped)
    lines = Lines()
    async with serve(app) as url:
        await download(f"{url}/train.jsonl", tmp_path, local=True, progress=Progress(lines))
        await download(f"{url}/packed.jsonl", tmp_path, local=True, progress=Progress(lines))
    assert lines.shown == [f"Checking `train.jsonl` ({size_text(len(GOOD))}) …", "Checking `packed.jsonl` …"]


async def test_a_slow_download_says_how_far_it_got(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers.progress, "EVERY", 0.1)

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(len(GOOD))})
        await response.prepare(request)
        part = len(GOOD) // 8 + 1
        for start in range(0, len(GOOD), part):
            await response.write(GOOD[start : start + part])
            await asyncio.sleep(0.15)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/slow.jsonl", trickle)
    lines = Lines()
    async with serve(app) as url:
        spooled = await download(f"{url}/slow.jsonl", tmp_path, local=True, progress=Progress(lines))
    assert spooled.size == len(GOOD)
    first, *updates, last = lines.shown
    assert first.startswith("Checking `slow.jsonl` (")
    assert updates and all(u.startswith("Downloading `slow.jsonl`: ") and "%) …" in u for u in updates)
    percents = [int(u.rsplit("(", 1)[1].split("%")[0]) for u in updates]
    assert percents == sorted(percents) and len({p // 25 for p in percents}) == len(
        percents
    )  # one per quarter
    assert last.startswith("Downloaded `slow.jsonl`") and "checking the data" in last


async def test_a_progress_line_that_fails_does_not_stop_the_download(tmp_path: Path) -> None:
    async def broken(_text: str) -> None:
        raise ConnectionError("chat platform down")

    async def plain(request: web.Request) -> web.Response:
        return web.Response(body=GOOD)

    app = web.Application()
    app.router.add_get("/train.jsonl", plain)
    async with serve(app) as url:
        spooled = await download(f"{url}/train.jsonl", tmp_path, local=True, progress=Progress(broken))
    assert spooled.path.read_bytes() == GOOD
