"""Progress lines while a command fetches data: "checking 12 MB ..." at once, then how far a long download is.

The adapter provides the way to show them (`Command.interim`: a private line on Slack, a typing indicator on
Teams and the chat page); this module decides *what* and *when*: one line when a download begins (with its
size when the platform or the server said it), an update at most every `EVERY` seconds and only when another
quarter is done (or, size unknown, every `EVERY` seconds), and one line when a download that took long is done
and the checks begin. A failure to show a line never stops the work.

    progress = Progress.of(cmd)
    meter = await progress.download("train.jsonl", size=12_582_912)   # "Checking `train.jsonl` (12 MB) ..."
    ... await meter.add(len(chunk)) ...
    await meter.done()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import suppress

from bot.model import Command, Interim
from cards.markup import code

log = logging.getLogger(__name__)

EVERY = 5.0  # seconds at least between two progress lines of one download
STEP = 25  # percent: a known-size download is reported at each quarter (when EVERY has passed)
SAY_WITHIN = 3.0  # seconds a progress line may take to show before the work goes on without it


def size_text(size: int) -> str:
    """`12.3 MB`, `12 MB`, `340 KB`: how big, for a progress line."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / 2**20:.1f}".removesuffix(".0") + " MB"


class Progress:
    """The progress lines of one command (nothing is shown when the adapter gave no `interim`)."""

    def __init__(self, interim: Interim | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._interim = interim
        self.clock = clock

    @classmethod
    def of(cls, cmd: Command) -> Progress:
        return cls(cmd.interim)

    async def say(self, text: str) -> None:
        if self._interim is None:
            return
        try:
            async with asyncio.timeout(SAY_WITHIN):
                await self._interim(text)
        except Exception as exc:  # a progress line is a courtesy: the work goes on without it
            log.info("progress line not shown: %s", type(exc).__name__)

    async def download(self, name: str, size: int | None) -> DownloadMeter:
        """Say that `name` is being fetched and checked; the meter reports how far it gets."""
        shown = f" ({size_text(size)})" if size else ""
        await self.say(f"Checking {code(name)}{shown} …")
        return DownloadMeter(self, name, size or None)


class DownloadMeter:
    """Counts the bytes of one download and says how far it is, sparingly (see the module docstring)."""

    def __init__(self, progress: Progress, name: str, size: int | None) -> None:
        self.progress = progress
        self.name = name
        self.size = size
        self.received = 0
        self.updates = 0
        self._last = progress.clock()
        self._quarter = 0

    async def add(self, count: int) -> None:
        self.received += count
        now = self.progress.clock()
        if now - self._last < EVERY:
            return
        if self.size:
            percent = min(99, self.received * 100 // self.size)
            quarter = percent // STEP
            if quarter <= self._quarter:
                return
            self._quarter = quarter
            line = (
                f"Downloading {code(self.name)}: {size_text(self.received)} of {size_text(self.size)} "
                f"({percent}%) …"
            )
        else:
            line = f"Downloading {code(self.name)}: {size_text(self.received)} so far …"
        self._last = now
        self.updates += 1
        await self.progress.say(line)

    async def done(self) -> None:
        """After a download long enough to have shown progress: say that the checks are running now."""
        if self.updates:
            with suppress(Exception):
                await self.progress.say(
                    f"Downloaded {code(self.name)} ({size_text(self.received)}); checking the data …"
                )
