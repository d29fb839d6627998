"""The chat page's Teams adapter, built when the page is first used instead of at start-up.

The local Direct Line channel runs its turns through a `TeamsAdapter`, and importing it loads the Bot
Framework SDK (botbuilder, msrest, msal: most of a second on the 2-core box). A bot that serves Teams has
it loaded anyway; one configured for Slack only should not pay for it at every start. `LazyTurns` imports
`adapters.teams` on a worker thread (the event loop keeps answering meanwhile) when the page is opened
(`warm`) or an activity or proactive send needs the adapter (`get`), and builds the adapter once.

    turns = LazyTurns(lambda module: module.TeamsAdapter(settings, dispatcher, store, platform="web"))
    adapter = await turns.get()
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from bot.model import MessageRef, Platform
from cards.model import Card

if TYPE_CHECKING:
    from adapters.teams import ImageHost, TeamsAdapter

__all__ = ["LazySender", "LazyTurns", "load_teams"]

log = logging.getLogger(__name__)

TEAMS_MODULE = "adapters.teams"


async def load_teams() -> ModuleType:
    """`adapters.teams`, imported on a worker thread the first time (the SDK's import is CPU work that would
    otherwise stall every request the loop is serving)."""
    module = sys.modules.get(TEAMS_MODULE)
    if module is None:
        module = await asyncio.to_thread(importlib.import_module, TEAMS_MODULE)
    return module


class LazyTurns:
    """A `TeamsAdapter` made by `build(adapters.teams)` on first use; see the module docstring."""

    def __init__(self, build: Callable[[ModuleType], TeamsAdapter]) -> None:
        self._build = build
        self._adapter: TeamsAdapter | None = None
        self._lock = asyncio.Lock()
        self._warming: asyncio.Task[Any] | None = None
        self._chart_images: ImageHost | None = None

    @property
    def built(self) -> TeamsAdapter | None:
        """The adapter if it was built (None: the SDK may not even be loaded)."""
        return self._adapter

    @property
    def chart_images(self) -> ImageHost | None:
        return self._chart_images

    @chart_images.setter
    def chart_images(self, host: ImageHost | None) -> None:
        self._chart_images = host
        if self._adapter is not None:
            self._adapter.chart_images = host

    async def get(self) -> TeamsAdapter:
        if self._adapter is None:
            async with self._lock:
                if self._adapter is None:
                    adapter = self._build(await load_teams())
                    adapter.chart_images = self._chart_images
                    self._adapter = adapter
        return self._adapter

    def warm(self) -> None:
        """Start building the adapter in the background (the page was opened: a message will follow)."""
        if self._adapter is None and self._warming is None:
            self._warming = asyncio.ensure_future(self.get())
            self._warming.add_done_callback(_log_failure)

    async def close(self, grace: float) -> None:
        if self._warming is not None and not self._warming.done():
            with contextlib.suppress(Exception):
                await self._warming  # a thread's import cannot be cancelled; it is short
        if self._adapter is not None:
            await self._adapter.close(grace=grace)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Web chat: could not load the Teams adapter", exc_info=task.exception())


class LazySender:
    """`bot.notifier.Sender` for the chat page: the Teams adapter's sender, built on first use."""

    def __init__(self, turns: LazyTurns, platform: Platform) -> None:
        self._turns = turns
        self.platform: Platform = platform

    async def send(
        self, reference: Mapping[str, Any], card: Card, *, thread: str | None = None, key: str | None = None
    ) -> MessageRef:
        adapter = await self._turns.get()
        return await adapter.sender.send(reference, card, thread=thread, key=key)

    async def update(self, reference: Mapping[str, Any], message: MessageRef, card: Card) -> None:
        adapter = await self._turns.get()
        await adapter.sender.update(reference, message, card)
