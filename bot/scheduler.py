"""In-process scheduler (APScheduler 3.x) for periodic work: housekeeping now, job watchers and the idle sweep
as they land. Jobs are coroutines; with several replicas, each job claims its rows through the store's leases,
so running the same schedule on every replica is safe."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

if TYPE_CHECKING:
    from bot.context import Context

log = logging.getLogger(__name__)
SEEN_EVENTS_KEPT = timedelta(days=1)  # Slack retries within minutes; a day is ample


class Scheduler:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._scheduler = AsyncIOScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
        )
        self._scheduler.add_job(self.prune_seen_events, "interval", hours=1, id="prune-seen-events")

    def add_interval(self, job: Callable[[], Awaitable[object]], *, hours: float, name: str) -> None:
        """Run `job` every `hours` (housekeeping other parts bring, e.g. expired chart pictures)."""
        self._scheduler.add_job(job, "interval", hours=hours, id=name)

    def start(self) -> None:
        self._scheduler.start()

    async def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    async def prune_seen_events(self) -> int:
        removed = await self.ctx.store.forget_events_before(self.ctx.clock() - SEEN_EVENTS_KEPT)
        if removed:
            log.debug("pruned %d de-duplication records", removed)
        return removed
