"""What start-up does once the bot listens: everything `/healthz` does not need, in the background.

`/healthz` answers before the handler modules, the data-plane client, the scheduler and the deferred adapters
exist (bench/startup.py); this builds them right after, and a command that arrives sooner builds what it needs
itself. Then the heap is frozen.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from bot.azure_clients import AzureClients
from bot.scheduler import Scheduler

log = logging.getLogger("ftbot")

# Without a `/healthz` probe the warm-up starts after this long.
GRACE = 0.2


@dataclass(eq=False)
class WarmUp:
    """The background part of start-up. `/healthz` reads `broken` and sets `healthy`; `RunningBot.close`
    sets `healthy` too, so that a warm-up still waiting for the first answer runs (and ends) now."""

    scheduler: Scheduler
    # `adapters.deferred.Deferred` builds (local Teams, the chat page's turns).
    deferred: list[Any] = field(default_factory=list)
    # Loads the handler modules and schedules their periodic work.
    wire: Callable[[], Awaitable[None]] | None = None
    azure: AzureClients | None = None
    # Whether no request is in flight: full collections wait for such moments.
    quiet: Callable[[], bool] = bool
    healthy: asyncio.Event = field(default_factory=asyncio.Event)
    # The handlers could not be loaded or scheduled: no command or alert would work.
    broken: bool = False
    # Set once the heap is frozen: puts the collector's thresholds back (`RunningBot.close`).
    gc_quiet_stop: Callable[[], None] | None = field(default=None, init=False)
    # The running warm-up (`start`), awaited by `RunningBot.close` and by tests that need it done.
    task: asyncio.Task[None] | None = field(default=None, init=False)

    def start(self) -> asyncio.Task[None]:
        """Run the warm-up in the background (once the port is bound)."""
        self.task = asyncio.get_running_loop().create_task(self.run())
        return self.task

    async def run(self) -> None:
        """Wire the handlers, build the data-plane client, start the scheduler and build the deferred adapters
        once `/healthz` has answered healthy (or GRACE has passed without a probe); then freeze the heap.

        Waiting for that answer: this work's imports in worker threads compete with it for the interpreter
        (they delayed it by ~0.1 s, a fifth of the launch).

        The data-plane client is built before the first burst of commands would (`AzureClients.data` builds
        it on first use otherwise: a command arriving sooner does not wait for this); its HTTP stack (httpcore)
        is imported in a worker thread first, so the loop keeps answering.

        Start-up leaves a large heap of long-lived objects (SDKs, models, routes); a full collection walking it
        in the middle of the first burst of requests delayed every ack by ~100 ms (bench/ack.py, round 1).
        Freezing moves them out of the collector's way; close() hands them back. `ftbot serve` runs start-up
        with the collector off (bot/cli.py): it is turned back on here, after the one collection. Full
        collections then wait for quiet moments (`bot.gc_quiet`)."""
        try:
            with suppress(TimeoutError):
                await asyncio.wait_for(self.healthy.wait(), GRACE)
            began = time.perf_counter()
            await self._wire()
            await self._data_client()
            await asyncio.to_thread(importlib.import_module, "apscheduler.schedulers.asyncio")
            self.scheduler.start()
            await self._deferred_adapters()
            if self.deferred:
                log.info(
                    "scheduler and deferred adapters (local chat page, local Teams) ready %.0f ms after start-up",
                    (time.perf_counter() - began) * 1000,
                )
        finally:
            self._freeze_heap()

    async def _wire(self) -> None:
        if self.wire is None:
            return
        try:
            await self.wire()
        except Exception:  # no command or alert would work: /healthz says so (503) from now on
            log.exception("could not load the handlers or schedule their periodic work")
            self.broken = True

    async def _data_client(self) -> None:
        if self.azure is None or not self.azure.names():
            return
        await asyncio.to_thread(importlib.import_module, "httpcore")
        try:
            self.azure.data()
        except Exception as exc:  # the first command that needs it builds it again and reports why
            log.warning("could not build the Azure data-plane client after start-up: %s", exc)

    async def _deferred_adapters(self) -> None:
        results = await asyncio.gather(*(d.get() for d in self.deferred), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.warning("could not build an adapter after start-up: %s", result)

    def _freeze_heap(self) -> None:
        gc.collect()
        gc.freeze()
        gc.enable()
        from bot.gc_quiet import collect_when_quiet

        scheduler = self.scheduler
        self.gc_quiet_stop = collect_when_quiet(quiet=self.quiet, alive=lambda: scheduler.running)
