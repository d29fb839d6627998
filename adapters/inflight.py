"""What an adapter is still doing: requests being handled and the tasks they started, for a bounded shutdown.

aiohttp runs `on_shutdown` hooks before it waits for requests in flight, so an adapter's `close` must wait for
both: a request still being read or dispatched may start work after the adapter's tasks all finished.

    inflight = InFlight()
    with inflight.request(): ...          # around a request handler
    inflight.track(task)                  # every task a request starts
    cancelled = await inflight.settle(grace)   # on shutdown

With a `limit`, `full` says the adapter is over its capacity: it then answers `BUSY` at once instead of
starting more work (a burst beyond what the bot can finish would otherwise queue without bound, and with it
memory and garbage-collection pauses that hold up every acknowledgement).

`all_idle()` says whether every adapter of the process is idle (no request being handled, no work in flight):
the moment for a full garbage collection, which then holds up nobody (`bot.gc_quiet`).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

BUSY = "ftbot is busy, try again in a few seconds."
_EVERY: weakref.WeakSet[InFlight] = weakref.WeakSet()  # every adapter's, while it exists


class InFlight:
    """Counts requests in flight and holds the tasks they started; see the module docstring."""

    def __init__(self, limit: int | None = None) -> None:
        self.requests = 0
        self.tasks: set[asyncio.Future[Any]] = set()
        self.limit = limit
        self.refused = 0  # requests answered "busy" (for the bench and the logs)
        self.max_tasks = 0
        self._changed = asyncio.Event()
        _EVERY.add(self)

    @property
    def full(self) -> bool:
        """At or over `limit` tasks (never without a limit)."""
        return self.limit is not None and len(self.tasks) >= self.limit

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        self.requests += 1
        try:
            yield
        finally:
            self.requests -= 1
            self._changed.set()

    def track(self, future: asyncio.Future[Any]) -> None:
        self.tasks.add(future)
        self.max_tasks = max(self.max_tasks, len(self.tasks))
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Any]) -> None:
        self.tasks.discard(future)
        self._changed.set()

    async def settle(self, grace: float) -> int:
        """Wait up to `grace` seconds for requests and tasks to finish, then cancel the tasks still running
        (a request waiting on one then finishes too); how many were cancelled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.requests or self.tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
        cancelled = 0
        while left := set(self.tasks):  # a cancelled task's request may still start one: look again
            for task in left:
                task.cancel()
            cancelled += len(left)
            await asyncio.gather(*left, return_exceptions=True)
            self.tasks.difference_update(left)
        return cancelled


def all_idle() -> bool:
    """No adapter of this process is handling a request or running work a request started."""
    return not any(inflight.requests or inflight.tasks for inflight in list(_EVERY))
