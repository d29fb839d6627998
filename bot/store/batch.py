"""Group commit for the small writes on the request path: one transaction per tick instead of one per write.

Every command writes a little bookkeeping (the request's signature or event id in `seen_events`, the posted
card's reference in `card_messages`, the conversation the first time it is seen). One transaction each made
SQLite's single writer the bottleneck of a burst (~300 commits/s while Slack was acknowledged at 600-950/s),
and the writes queued without limit. Here callers still await their write, and it is durable when the await
returns, as before; what changes is that the writes waiting at the same moment share one transaction:

    batch = WriteBatch(store, limit=2_000)
    seen = await batch.seen_event("slack", event_id)       # True: recorded before (a retry)
    await batch.remember_message(card_key, conversation_key, ref)
    await batch.save_conversation(values)
    await batch.flush()                                     # on shutdown: everything queued is committed

A flush takes whatever is queued (at most `per_commit` writes, merged: the last reference of one card wins,
one event id is inserted once) and commits it as a few multi-row statements. The queue is bounded: past
`limit` queued writes a caller waits for room, and `backlog` lets the adapters answer "busy" before that.
A failed commit fails the writes of that commit (their callers treat them as bookkeeping, see
`bot.store.health.best_effort`); the next flush tries again with whatever is queued then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.model import MessageRef
from bot.schema import card_messages, conversations, seen_events

if TYPE_CHECKING:
    from bot.store.base import StoreBase

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 2_000
PER_COMMIT = 500  # writes per transaction (and rows per statement: well under both databases' parameter caps)


@dataclass
class _Pending:
    """Writes queued for the next commit, merged by their keys; the futures of their callers."""

    events: dict[tuple[str, str], list[asyncio.Future[bool]]] = field(default_factory=dict)
    messages: dict[tuple[str, str], tuple[dict[str, Any], list[asyncio.Future[None]]]] = field(
        default_factory=dict
    )
    conversations: dict[str, tuple[dict[str, Any], list[asyncio.Future[None]]]] = field(default_factory=dict)
    count: int = 0  # callers waiting (a merged write still counts each caller)
    inserted: set[tuple[str, str]] = field(default_factory=set)  # event ids the commit inserted (new ones)


class WriteBatch:
    """See the module docstring. Not thread-safe: one event loop at a time (the store's)."""

    def __init__(self, store: StoreBase, *, limit: int = DEFAULT_LIMIT, per_commit: int = PER_COMMIT) -> None:
        self._store = store
        self.limit = limit
        self.per_commit = per_commit
        self._pending = _Pending()
        self._flusher: asyncio.Task[None] | None = None
        self._room: asyncio.Event | None = None
        self._committing = 0
        self.commits = 0  # transactions committed (for tests and the bench)
        self.written = 0  # callers' writes committed
        self.max_backlog = 0
        # Loop time of the last successful commit: progress, which `best_effort` tells from an outage.
        self.last_commit = float("-inf")

    @property
    def backlog(self) -> int:
        """Writes queued or being committed."""
        return self._pending.count + self._committing

    # -- the writes -------------------------------------------------------------------------------------------

    async def seen_event(self, source: str, event_id: str) -> bool:
        """Record an inbound delivery; True if it had been recorded before (or twice in this batch)."""
        await self._wait_for_room()
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.events.setdefault((source, event_id), []).append(fut)
        self._queued()
        return await fut

    async def remember_message(self, card_key: str, conversation_key: str, ref: MessageRef) -> None:
        """Upsert the card's message reference (the last one queued for a card and conversation wins)."""
        await self._wait_for_room()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        row = {
            "card_key": card_key,
            "conversation_key": conversation_key,
            "platform": ref.platform,
            "message_id": ref.message_id,
        }
        key = (card_key, conversation_key)
        _, waiting = self._pending.messages.get(key, (row, []))
        waiting.append(fut)
        self._pending.messages[key] = (row, waiting)
        self._queued()
        await fut

    async def save_conversation(self, values: Mapping[str, Any]) -> None:
        """Upsert a conversation row (`key`, `platform`, `conversation_id`, `kind`, `team`, `reference`)."""
        await self._wait_for_room()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        key = str(values["key"])
        _, waiting = self._pending.conversations.get(key, (dict(values), []))
        waiting.append(fut)
        self._pending.conversations[key] = (dict(values), waiting)
        self._queued()
        await fut

    async def flush(self) -> None:
        """Commit everything queued now (and wait for a commit already under way)."""
        while self._pending.count or self._flushing():
            if not self._flushing():
                self._start()
            assert self._flusher is not None
            with contextlib.suppress(Exception):
                await asyncio.shield(self._flusher)

    # -- the queue --------------------------------------------------------------------------------------------

    async def _wait_for_room(self) -> None:
        while self.backlog >= self.limit:
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            self._start()
            await self._room.wait()

    def _queued(self) -> None:
        self._pending.count += 1
        self.max_backlog = max(self.max_backlog, self.backlog)
        self._start()

    def _flushing(self) -> bool:
        flusher = self._flusher
        return flusher is not None and not flusher.done() and flusher.get_loop() is asyncio.get_running_loop()

    def _start(self) -> None:
        if not self._flushing():
            self._flusher = asyncio.get_running_loop().create_task(self._run(), name="store write batch")

    async def _run(self) -> None:
        # One loop turn first: the writes of a burst arriving together go into one commit.
        await asyncio.sleep(0)
        while self._pending.count:
            batch = self._take()
            self._committing = batch.count
            try:
                await self._commit(batch)
            except BaseException as exc:
                _fail(batch, exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.warning("store: a batch of %d writes failed: %s", batch.count, type(exc).__name__)
            else:
                _succeed(batch)
                self.last_commit = asyncio.get_running_loop().time()
                self.commits += 1
                self.written += batch.count
            finally:
                self._committing = 0
                if self._room is not None:
                    self._room.set()

    def _take(self) -> _Pending:
        """Up to `per_commit` of the queued writes (oldest first), removed from the queue."""
        pending, taken, room = self._pending, _Pending(), self.per_commit
        for attr in ("events", "messages", "conversations"):
            source: dict[Any, Any] = getattr(pending, attr)
            target: dict[Any, Any] = getattr(taken, attr)
            for key in list(source)[:room]:
                item = source.pop(key)
                target[key] = item
                taken.count += len(item) if attr == "events" else len(item[1])
            room -= len(target)
            if room <= 0:
                break
        pending.count -= taken.count
        return taken

    async def _commit(self, batch: _Pending) -> None:
        from bot.store.base import utcnow

        store = self._store
        now = utcnow()
        # Each statement without its rows, which go as parameters (one set per row): a statement holding its
        # rows (`values([...])`) is compiled anew on every commit (SQLAlchemy caches no multi-row VALUES).
        async with await store.write() as conn:
            if batch.conversations:
                rows = [{**v, "created_at": now, "updated_at": now} for v, _ in batch.conversations.values()]
                await conn.execute(_upsert_conversations(store), rows)
            if batch.messages:
                rows = [{**row, "updated_at": now} for row, _ in batch.messages.values()]
                await conn.execute(_upsert_messages(store), rows)
            if batch.events:
                rows = [{"source": s, "event_id": e, "seen_at": now} for s, e in batch.events]
                batch.inserted = {
                    (r[0], r[1]) for r in (await conn.execute(_insert_events(store), rows)).all()
                }


def _upsert_conversations(store: StoreBase) -> Any:
    stmt = store.insert(conversations)
    return stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={k: stmt.excluded[k] for k in ("kind", "team", "reference", "updated_at")},
    )


def _upsert_messages(store: StoreBase) -> Any:
    stmt = store.insert(card_messages)
    return stmt.on_conflict_do_update(
        index_elements=["card_key", "conversation_key"],
        set_={"message_id": stmt.excluded.message_id, "updated_at": stmt.excluded.updated_at},
    )


def _insert_events(store: StoreBase) -> Any:
    stmt = store.insert(seen_events).on_conflict_do_nothing(index_elements=["source", "event_id"])
    return stmt.returning(seen_events.c.source, seen_events.c.event_id)


def _succeed(batch: _Pending) -> None:
    for key, futures in batch.events.items():
        for i, fut in enumerate(futures):
            if not fut.done():
                # Only the first caller of an id that this commit inserted hears "new"; the rest are repeats.
                fut.set_result(not (i == 0 and key in batch.inserted))
    for _, waiting in (*batch.messages.values(), *batch.conversations.values()):
        for done in waiting:
            if not done.done():
                done.set_result(None)


def _fail(batch: _Pending, exc: BaseException) -> None:
    error = exc if isinstance(exc, Exception) else RuntimeError("the write batch was cancelled")
    futures: list[asyncio.Future[Any]] = [f for fs in batch.events.values() for f in fs]
    futures += [f for _, fs in (*batch.messages.values(), *batch.conversations.values()) for f in fs]
    for fut in futures:
        if not fut.done():
            fut.set_exception(error)
            fut.exception()  # a caller that gave up (timed out) must not leave it "never retrieved"
