"""Adapters whose SDK loads after start-up: routes are mounted at once, the adapter is built on first use.

Importing the Bot Framework SDK (botbuilder, msrest, msal, jwt, cryptography) costs about as much as the rest of
start-up together, and the embedded default serves Teams only locally and the chat page only once a browser
opens it. So `ftbot serve` answers `/healthz` first and builds these adapters right after (`warm()`, the
import in a worker thread so the event loop keeps answering); a request that arrives before waits for the
build instead of failing. Proactive sends wait the same way (`DeferredSender`).

>>> teams = mount_teams_deferred(app, settings, dispatcher, store, notifier)
>>> teams.warm()              # after the site is listening
>>> adapter = await teams.get()
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from aiohttp import web

from bot.config import Settings
from bot.model import MessageRef, Platform
from bot.notifier import Notifier
from bot.router import Dispatcher
from cards.model import Card

log = logging.getLogger(__name__)
T = TypeVar("T")

TEAMS_ROUTE = "/api/messages"  # adapters.teams.ROUTE (a test checks they agree)


class Deferred(Generic[T]):
    """One object built once, on first `get()` or by `warm()`; concurrent callers share the one build.

    `modules` are imported in a worker thread first (imports hold the GIL, but the loop still gets its
    turns: `/healthz` keeps answering), then `build` runs on the loop."""

    def __init__(self, build: Callable[[], Awaitable[T]], *, modules: tuple[str, ...] = ()) -> None:
        self._build = build
        self._modules = modules
        self._task: asyncio.Task[T] | None = None

    @property
    def built(self) -> T | None:
        task = self._task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    def warm(self) -> None:
        """Start building now (in the background) if nothing has asked yet."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def get(self) -> T:
        self.warm()
        assert self._task is not None
        try:
            return await asyncio.shield(self._task)
        except Exception:
            self._task = None  # a failed build is tried again by the next caller
            raise

    async def settled(self) -> T | None:
        """The object if a build was started (waiting for it to finish), else None: for shutdown."""
        if self._task is None:
            return None
        try:
            return await asyncio.shield(self._task)
        except Exception:
            return None

    async def _run(self) -> T:
        for name in self._modules:
            await asyncio.to_thread(importlib.import_module, name)
        return await self._build()


class DeferredSender:
    """A notifier `Sender` for a platform whose adapter is built later: each call waits for the build,
    then goes to the real sender."""

    def __init__(self, platform: Platform, sender: Callable[[], Awaitable[Any]]) -> None:
        self.platform = platform
        self._sender = sender

    async def send(
        self, reference: Mapping[str, Any], card: Card, *, thread: str | None = None, key: str | None = None
    ) -> MessageRef:
        real = await self._sender()
        if key is None:
            return await real.send(reference, card, thread=thread)
        return await real.send(reference, card, thread=thread, key=key)

    async def update(self, reference: Mapping[str, Any], message: MessageRef, card: Card) -> None:
        real = await self._sender()
        await real.update(reference, message, card)


class LazyTeamsAdapter:
    """A Teams adapter built later by `build` (the SDK imported in a worker thread first), carrying the
    `chart_images` the app sets at mount time over to it once built."""

    def __init__(self, build: Callable[[], Awaitable[Any]]) -> None:
        self._chart_images: Any = None

        async def built_with_images() -> Any:
            adapter = await build()
            adapter.chart_images = self._chart_images
            return adapter

        self.deferred: Deferred[Any] = Deferred(built_with_images, modules=("adapters.teams",))

    @property
    def chart_images(self) -> Any:
        return self._chart_images

    @chart_images.setter
    def chart_images(self, value: Any) -> None:
        self._chart_images = value
        built = self.deferred.built
        if built is not None:
            built.chart_images = value

    def warm(self) -> None:
        self.deferred.warm()


class DeferredTeams(LazyTeamsAdapter):
    """Teams on `POST /api/messages`, its adapter (`adapters.teams.mount_teams` on a private app whose
    start-up and shutdown hooks run here) built on first use."""

    def __init__(self, settings: Settings, dispatcher: Dispatcher, store: Any, notifier: Notifier) -> None:
        self._private = web.Application()
        self.no_auth = settings.teams_no_auth  # known before the build (what mount_teams is given)

        async def build() -> Any:
            from adapters.teams import mount_teams

            adapter = mount_teams(self._private, settings, dispatcher, store, notifier)
            for hook in self._private.on_startup:
                await hook(self._private)
            return adapter

        super().__init__(build)

    async def get(self) -> Any:
        return await self.deferred.get()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        adapter = await self.get()
        return await adapter.handle(request)

    async def sender(self) -> Any:
        adapter = await self.get()
        from adapters.teams import TeamsSender

        return TeamsSender(adapter)

    async def wait_idle(self) -> None:
        adapter = await self.deferred.settled()
        if adapter is not None:
            await adapter.wait_idle()

    async def close(self) -> None:
        adapter = await self.deferred.settled()
        if adapter is not None:
            for hook in self._private.on_shutdown:
                await hook(self._private)

    def __getattr__(self, name: str) -> Any:
        # Anything else (tests, diagnostics) is the built adapter's, once it is built.
        built = self.__dict__.get("deferred")
        adapter = built.built if built is not None else None
        if adapter is None:
            raise AttributeError(f"{name!r}: the Teams adapter is not built yet")
        return getattr(adapter, name)


def mount_teams_deferred(
    app: web.Application, settings: Settings, dispatcher: Dispatcher, store: Any, notifier: Notifier
) -> DeferredTeams:
    """Serve Teams on `POST /api/messages` with the adapter built on first use (see the module docstring)."""
    teams = DeferredTeams(settings, dispatcher, store, notifier)
    app.router.add_post(TEAMS_ROUTE, teams.handle)
    notifier.register(DeferredSender("teams", teams.sender))

    async def on_shutdown(_: web.Application) -> None:
        await teams.close()

    app.on_shutdown.append(on_shutdown)
    return teams


__all__ = ["Deferred", "DeferredSender", "DeferredTeams", "mount_teams_deferred"]
