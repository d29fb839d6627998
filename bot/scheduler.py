"""In-process scheduler (APScheduler 3.x) for periodic work: housekeeping now, job watchers and the idle sweep
as they land. Jobs are coroutines; with several replicas, each job claims its rows through the store's leases,
so running the same schedule on every replica is safe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.store.health import is_store_failure

if TYPE_CHECKING:
    from bot.context import Context

log = logging.getLogger(__name__)
SEEN_EVENTS_KEPT = timedelta(days=1)  # Slack retries within minutes; a day is ample
STOP_GRACE = 1.0  # seconds a scheduled run in progress gets at shutdown


class Scheduler:
    """Jobs are recorded until `start()`, which imports APScheduler: start-up can answer `/healthz` first."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._scheduler: Any = None
        self._pending: list[tuple[Callable[..., Any], dict[str, Any]]] = []
        self._running: set[asyncio.Task[object]] = set()
        self._add(self.prune_seen_events, hours=1, id="prune-seen-events")

    def _add(self, func: Callable[..., Any], **options: Any) -> None:
        if self._scheduler is None:
            self._pending.append((func, options))
        else:
            self._scheduler.add_job(func, "interval", **options)

    def every(
        self, name: str, seconds: float, work: Callable[[], Awaitable[object]], *, now: bool = False
    ) -> None:
        """Run `work` every `seconds` (never two at once; a late run is skipped, not queued to catch up), the
        first time right after `start()` when `now`. The job watchers, the outbox delivery, the deployment
        sweep and the start reconciler are added this way by the wiring."""

        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                await work()
            except asyncio.CancelledError:  # by `stop`: the end of the process, not a failure of the job
                return
            except Exception as exc:  # one bad tick must not stop the schedule
                if is_store_failure(exc):  # an outage, not a bug: one line per tick, no traceback
                    log.warning("scheduled %s skipped: the database failed (%s)", name, type(exc).__name__)
                else:
                    log.exception("scheduled %s failed", name)
            finally:
                if task is not None:
                    self._running.discard(task)

        first = {"next_run_time": datetime.now(UTC)} if now else {}
        self._add(run, seconds=seconds, id=name, misfire_grace_time=None, **first)

    def start(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        if self._scheduler is not None:
            return
        self._scheduler = AsyncIOScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
        )
        for func, options in self._pending:
            self._scheduler.add_job(func, "interval", **options)
        self._pending.clear()
        self._scheduler.start()

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop scheduling; give a poll or delivery in progress `grace` seconds to finish (its work is
        leased and keyed, so cutting it short loses nothing), then cancel it before the store closes."""
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        running = list(self._running)
        if running:
            _done, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    @property
    def running(self) -> bool:
        return self._scheduler is not None and bool(self._scheduler.running)

    async def prune_seen_events(self) -> int:
        removed = await self.ctx.store.forget_events_before(self.ctx.clock() - SEEN_EVENTS_KEPT)
        if removed:
            log.debug("pruned %d de-duplication records", removed)
        return removed
