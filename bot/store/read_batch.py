"""Concurrent point reads share one query: the reads asked for at the same moment become one `IN (...)`.

Every slash command about a job reads that job's row first (`may_view`, `may_manage`). One query each, a
burst of 200 commands made 200 queries queue for the pool's 15 connections, and on SQLite every query takes
about five hops to aiosqlite's thread and back: under a flood, where one event-loop turn carries the answers
to a hundred connections, a single read took ~80 loop turns and ~2 s (bench/ack.py, ACK_BENCH_TRACE=1), and
the bookkeeping writes queued behind it ran out of time. Here the reads waiting at the same moment go out as
one query:

    reads = ReadBatch(fetch_rows)          # fetch_rows(keys) -> {key: value} for the keys that exist
    row = await reads.get(key)             # None when there is no such row

Each read is as fresh as a read of its own: it is answered by a query that *starts after it was asked*
(a query already running never takes new keys), so a caller sees every write committed before it asked,
on any replica. Nothing is cached. A failed query fails the reads it carried, with its exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

PER_QUERY = 500  # keys per query: well under both databases' caps on parameters
MAX_QUERIES = 4  # queries at once; more reads wait for the next one (the pool is shared with everything else)
# Callers answered per event-loop turn. All 200 commands of a burst woken in one turn each ran on to its Azure
# request (~2 ms of CPU each): a 400 ms turn that every acknowledgement waited behind (bench/ack.py, p99).
WAKE_PER_TURN = 8


class ReadBatch(Generic[K, V]):
    """See the module docstring. One event loop at a time (a new loop starts afresh)."""

    def __init__(
        self,
        fetch: Callable[[Sequence[K]], Awaitable[Mapping[K, V]]],
        *,
        per_query: int = PER_QUERY,
        max_queries: int = MAX_QUERIES,
        wake_per_turn: int = WAKE_PER_TURN,
    ) -> None:
        self._fetch = fetch
        self.per_query = per_query
        self.max_queries = max_queries
        self.wake_per_turn = wake_per_turn
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._readers: set[asyncio.Task[None]] = set()
        self._gathering = False  # a reader is waiting one loop turn for the reads of this moment
        self._loop: asyncio.AbstractEventLoop | None = None
        self.queries = 0  # for tests and the bench
        self.reads = 0

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # another loop (tests): nothing of the old one can be awaited here
            self._loop, self._waiting, self._readers, self._gathering = loop, {}, set(), False
        future: asyncio.Future[V | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(future)
        if not self._gathering and len(self._readers) < self.max_queries:
            self._gathering = True
            reader = loop.create_task(self._read(), name="store read batch")
            self._readers.add(reader)
            reader.add_done_callback(self._readers.discard)
        return await future

    async def _read(self) -> None:
        # One loop turn first: the reads of a burst arriving together go into one query.
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError as exc:  # the loop is going away: nobody else will answer these
            self._gathering = False
            _fail({k: self._waiting.pop(k) for k in list(self._waiting)}, exc)
            raise
        self._gathering = False
        while self._waiting:
            taken = self._take()
            try:
                found = await self._fetch(list(taken))
            except BaseException as exc:
                _fail(taken, exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
            else:
                self.queries += 1
                self.reads += sum(len(futures) for futures in taken.values())
                await self._answer(taken, found)
            if self._gathering:  # the reads that came meanwhile already have a reader of their own
                return

    async def _answer(self, taken: Mapping[K, list[asyncio.Future[V | None]]], found: Mapping[K, V]) -> None:
        """Answer `wake_per_turn` callers a loop turn, so the requests waiting meanwhile are answered between."""
        answers = [(future, found.get(key)) for key, futures in taken.items() for future in futures]
        for i, (future, value) in enumerate(answers):
            if i and i % self.wake_per_turn == 0:
                try:
                    await asyncio.sleep(0)
                except asyncio.CancelledError:  # the loop is going away: answer the rest at once
                    for rest, rest_value in answers[i:]:
                        if not rest.done():
                            rest.set_result(rest_value)
                    raise
            if not future.done():  # its caller may have given up (a timeout)
                future.set_result(value)

    def _take(self) -> dict[K, list[asyncio.Future[V | None]]]:
        """Up to `per_query` keys of the reads waiting now (oldest first), removed from the queue."""
        keys = list(self._waiting)[: self.per_query]
        return {key: self._waiting.pop(key) for key in keys}


def _fail(taken: Mapping[K, list[asyncio.Future[V | None]]], exc: BaseException) -> None:
    error = exc if isinstance(exc, Exception) else RuntimeError("the read batch was cancelled")
    for futures in taken.values():
        for future in futures:
            if not future.done():
                future.set_exception(error)
                future.exception()  # a caller that gave up must not leave it "never retrieved"
