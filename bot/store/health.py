"""Is the database usable: a read and a write probe for /healthz, what a database failure looks like, and
bookkeeping that must not stop an answer.

A hung or full database used to leave commands with no answer at all: the adapters save the conversation
(bookkeeping) before the dispatcher's error route, so its failure escaped. `best_effort` runs such writes
with a bound and logs their failure; `is_store_failure` lets the error route say "the database is not
answering" instead of an unexplained error; `HealthStore.check_health` makes /healthz fail when writes fail
(a full disk, a read-only replica, a hung primary), not only when the database is unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable
from typing import TypeVar

from sqlalchemy import exc as sa_exc

from bot.schema import seen_events
from bot.store.base import StoreBase, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

PROBE_SOURCE = "healthz"  # seen_events rows written by the write probe (one per process, refreshed)
# Seconds bookkeeping may hold up an answer. Shorter than the store's statement timeout on purpose: a pre-ping
# and a reconnect to a hung server would otherwise cost two of those before the user hears anything.
BOOKKEEPING_WITHIN = 3.0
_DRIVER_MODULES = ("sqlalchemy", "asyncpg", "aiosqlite", "sqlite3", "bot.store")


def is_store_failure(error: BaseException) -> bool:
    """True when `error` says the database is unreachable, hung, full or read-only (not a bug in a query:
    constraint and syntax errors are not outages)."""
    if isinstance(
        error,
        sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError | sa_exc.DisconnectionError,
    ):
        return True
    if isinstance(error, sa_exc.DBAPIError):
        return bool(error.connection_invalidated)
    if isinstance(error, TimeoutError | OSError):
        # asyncpg's command timeout and a reset connection surface unwrapped: tell them by where they came from.
        tb = error.__traceback__
        while tb is not None:
            if str(tb.tb_frame.f_globals.get("__name__", "")).startswith(_DRIVER_MODULES):
                return True
            tb = tb.tb_next
    return False


# After bookkeeping failed, further bookkeeping is skipped for this long: with the database hung, every
# answer would otherwise wait out the bound again (and queue behind the watchers' stuck connections).
OUTAGE_HOLD = 10.0


async def best_effort(
    work: Awaitable[T], what: str, *, default: T, within: float = BOOKKEEPING_WITHIN, store: object = None
) -> T:
    """Await `work` (bookkeeping such as saving a conversation); on a failure or after `within` seconds log
    one line and return `default`, so the user still gets an answer. Given the `store`, a failure also skips
    its bookkeeping for `OUTAGE_HOLD` seconds (answered at once meanwhile), then tries again.

    >>> seen = await best_effort(store.seen_event("slack", event_id), "record the event", default=False)
    """
    loop = asyncio.get_running_loop()
    if store is not None and loop.time() < getattr(store, "_outage_until", 0.0):
        if asyncio.iscoroutine(work):
            work.close()  # never started: nothing to undo
        log.debug("skipped: %s (the database failed moments ago)", what)
        return default
    try:
        async with asyncio.timeout(within):
            return await work
    except Exception as exc:  # any failure of bookkeeping: the answer matters more
        if isinstance(exc, TimeoutError) and _committing(store, loop.time() - within):
            # Slow, not down: the write stays queued and lands with a later commit (a flood, bench/ack.py).
            # Holding off bookkeeping here would skip replay checks and card references for no outage.
            log.info("slow: %s took over %.0f s while the store is committing; carrying on", what, within)
            return default
        log.warning("could not %s (%s); carrying on without it", what, _brief(exc))
        if store is not None:
            store._outage_until = loop.time() + OUTAGE_HOLD  # type: ignore[attr-defined]
        return default


def _committing(store: object, since: float) -> bool:
    """The store's request-path write batch committed since `since` (loop time): it is making progress."""
    batch = getattr(store, "batch", None)
    return batch is not None and getattr(batch, "last_commit", float("-inf")) >= since


def _brief(exc: BaseException) -> str:
    """Type and first line of the driver's message (no statement, no parameters)."""
    detail = str(getattr(exc, "orig", None) or exc)
    first = detail.splitlines()[0][:120] if detail else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class HealthStore(StoreBase):
    """The probes behind /healthz."""

    async def write_probe(self, within: float = 2.0) -> bool:
        """True when a small write commits in time (one row of seen_events per process, refreshed)."""
        row = {"source": PROBE_SOURCE, "event_id": _probe_id(), "seen_at": utcnow()}
        stmt = self.insert(seen_events).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "event_id"], set_={"seen_at": row["seen_at"]}
        )
        try:
            async with asyncio.timeout(within), await self.write() as conn:
                await conn.execute(stmt)
            return True
        except Exception as exc:
            log.warning("store write probe failed: %s", _brief(exc))
            return False

    async def check_health(self, within: float = 2.0) -> dict[str, bool]:
        """{"store": reads answer, "store_write": a write commits}; both within `within` seconds each."""
        read = await self.ping(within)
        write = await self.write_probe(within) if read else False
        return {"store": read, "store_write": write}


def _probe_id() -> str:
    return f"{socket.gethostname()[:200]}:{os.getpid()}"
