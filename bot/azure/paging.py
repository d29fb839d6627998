"""Bounds on reading Azure's paged lists, and what a bounded read did not reach.

Azure's lists have no server-side filters, so a search (`list --all --status failed`, the succeeded job that
holds a model, the leftovers of a crash) reads pages until it finds what it wants or the list ends. Every
such read goes through a `Scan`: at most `max_pages` pages and `max_seconds` seconds (the clients' defaults
come from the settings), and afterwards it tells whether it stopped with more to read, how many items it
read and how far back it got, so the answer in chat can say what it did not read.

>>> scan = client.scan()                       # the client's bounds
>>> found = [j async for j in client.jobs(status="failed", scan=scan)]
>>> scan.truncated, scan.items, scan.oldest    # (True, 1000, 1764000000) at 10,000 jobs
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Defaults when a client is built without settings (the settings carry the same values).
DEFAULT_MAX_PAGES = 20
DEFAULT_MAX_SECONDS = 20.0


@dataclass(slots=True)
class Scan:
    """One bounded read of a paged list: its bounds, then what it read."""

    max_pages: int | None = DEFAULT_MAX_PAGES
    max_seconds: float | None = DEFAULT_MAX_SECONDS
    pages: int = 0
    items: int = 0
    truncated: bool = False  # stopped at a bound while the service said there was more
    oldest: int | None = None  # `created_at` of the last item read (lists are newest first)
    _started: float | None = field(default=None, repr=False)

    def may_fetch(self) -> bool:
        """Whether another page may be read; the first page always is. Marks the scan truncated when not
        (the caller asks only when the service said there is more)."""
        now = time.monotonic()
        if self._started is None:
            self._started = now
        if self.pages == 0:
            return True
        over_pages = self.max_pages is not None and self.pages >= self.max_pages
        over_time = self.max_seconds is not None and now - self._started >= self.max_seconds
        if over_pages or over_time:
            self.truncated = True
            return False
        return True

    def page_read(self) -> None:
        self.pages += 1

    def saw(self, created_at: int | float | None) -> None:
        self.items += 1
        if created_at is not None:
            self.oldest = int(created_at)

    def note(self, noun: str, narrow: str = "") -> str:
        """What a truncated read says in chat ("" when it read everything): how much it searched, how far
        back, and how to narrow the search, e.g. "Searched the newest 1,000 jobs (back to 2026-10-03 14:20
        UTC); older ones were not read. Narrow with `--since` or `--resource`."""
        if not self.truncated:
            return ""
        back = ""
        if self.oldest is not None:
            back = f" (back to {datetime.fromtimestamp(self.oldest, UTC):%Y-%m-%d %H:%M} UTC)"
        text = f"Searched the newest {self.items:,} {noun}{back}; older ones were not read."
        return f"{text} {narrow}" if narrow else text

    def merge(self, other: Scan) -> None:
        """Fold another read of the same answer into this one (e.g. a second list on the same card)."""
        self.pages += other.pages
        self.items += other.items
        self.truncated = self.truncated or other.truncated
        if other.oldest is not None:
            self.oldest = other.oldest if self.oldest is None else min(self.oldest, other.oldest)


__all__ = ["DEFAULT_MAX_PAGES", "DEFAULT_MAX_SECONDS", "Scan"]
