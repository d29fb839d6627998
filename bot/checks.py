"""A dedicated, bounded pool for CPU-bound checks (training-data validation), with a global and a per-user limit.

asyncio's default executor is shared with DNS look-ups and file writes: six large checks in it held up
everything else and nothing bounded how many ran or waited. Here a check runs on one of `workers` threads of
its own; at most `queue` more wait (first come, first served); a user has at most `per_user` checks running
or waiting. Past a limit the caller gets `Busy` with how many are ahead, at once, instead of an unbounded wait.

    pool = CheckPool(workers=2, queue=4, per_user=2)
    report = await pool.run("slack:U123", validate_path, path, cancel=event)
    pool.close()
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from bot.errors import Busy

T = TypeVar("T")

MAX_WAIT = 120.0  # seconds a queued check waits for a thread before the user is told to try again


class CheckPool:
    """See the module docstring. One per running bot (`Context.checks`); `close()` at shutdown."""

    def __init__(self, *, workers: int = 2, queue: int = 4, per_user: int = 2, max_wait: float = MAX_WAIT):
        self.workers = max(1, workers)
        self.queue = max(0, queue)
        self.per_user = max(1, per_user)
        self.max_wait = max_wait
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ftbot-check")
        self._running = 0  # threads busy with a check (released when the thread is done, not when awaited)
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._users: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()  # `_running` and `_waiting`: released from worker threads too

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def run(self, user: str, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` on a check thread for `user`; `Busy` when a limit is reached.

        A `cancel` keyword that is a `threading.Event` is set when the caller is cancelled, so the thread stops
        at its next block (a thread cannot be interrupted) and its slot is freed when it has."""
        if self._users[user] >= self.per_user:
            raise Busy(
                f"You already have {_checks(self._users[user])} running or waiting.",
                hint="Wait for the results, then try again.",
            )
        ahead = self._running + len(self._waiting)
        if self._running >= self.workers and len(self._waiting) >= self.queue:
            raise Busy(
                f"The bot is busy: {_checks(ahead)} ahead of you ({self._running} running, "
                f"{len(self._waiting)} waiting).",
                hint="Try again in a few minutes.",
            )
        self._users[user] += 1
        try:
            await self._acquire(ahead)
            return await self._submit(functools.partial(fn, *args, **kwargs), kwargs.get("cancel"))
        finally:
            self._users[user] -= 1
            if self._users[user] <= 0:
                del self._users[user]

    async def _acquire(self, ahead: int) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._running < self.workers and not self._waiting:
                self._running += 1
                return
            turn: asyncio.Future[None] = loop.create_future()
            self._waiting.append(turn)
        try:
            async with asyncio.timeout(self.max_wait):
                await turn
        except BaseException as exc:
            with self._lock:
                granted = turn.done() and not turn.cancelled()
                if not granted:
                    turn.cancel()  # a grant on its way finds it done and passes the thread on
                    with contextlib.suppress(ValueError):
                        self._waiting.remove(turn)
            if granted:
                self._release()  # handed a thread just as we gave up: pass it on
            if isinstance(exc, TimeoutError):
                raise Busy(
                    f"The bot is busy: your data check waited {self.max_wait:g} s behind "
                    f"{_checks(ahead)} and did not start.",
                    hint="Try again in a few minutes.",
                ) from None
            raise
        # Handed a thread by `_release`, which kept it counted as running for us.

    async def _submit(self, call: Callable[[], T], cancel: object) -> T:
        try:
            future: Future[T] = self._executor.submit(call)
        except RuntimeError:  # the pool is closed: the bot is stopping
            self._release()
            raise Busy("The bot is shutting down.", hint="Try again in a moment.") from None
        # Freed when the thread is done (not when the caller stops waiting), from whichever thread ends it.
        future.add_done_callback(lambda _: self._release())
        try:
            return await asyncio.wrap_future(future)
        except BaseException:
            if isinstance(cancel, threading.Event):
                cancel.set()
            raise

    def _release(self) -> None:
        """A thread is free (called from any thread): hand it to the first waiter still waiting, in its own
        loop, else count it free. A waiter whose loop is gone is skipped, so no slot is ever lost."""
        while True:
            with self._lock:
                if not self._waiting:
                    self._running = max(0, self._running - 1)
                    return
                turn = self._waiting.popleft()
            if turn.done():
                continue
            try:
                turn.get_loop().call_soon_threadsafe(self._grant, turn)
                return
            except RuntimeError:  # that waiter's event loop is closed
                continue

    def _grant(self, turn: asyncio.Future[None]) -> None:
        if turn.done():  # its waiter gave up meanwhile: the next one gets the thread
            self._release()
        else:
            turn.set_result(None)

    def close(self) -> None:
        """Stop taking checks; threads finish the check they are on (each stops at its cancel event)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _checks(count: int) -> str:
    return f"{count} data check{'' if count == 1 else 's'}"


_default: CheckPool | None = None


def default_pool() -> CheckPool:
    """The pool for contexts built without one (unit tests, scripts)."""
    global _default
    if _default is None:
        _default = CheckPool()
    return _default
