"""A stand-in Bot Framework Connector: the far side of the Teams wire in tests.

Serves, on 127.0.0.1 with an ephemeral port, the three Connector REST calls the bot makes and records them:

    POST /v3/conversations/{id}/activities              send to conversation
    POST /v3/conversations/{id}/activities/{replyToId}  reply to an activity
    PUT  /v3/conversations/{id}/activities/{activityId} update an activity

Each answers `{"id": "<new id>"}` like the real service (an update answers the updated id). Tests wait for
calls with `await connector.wait_for(n)` (event driven, no sleeping) and can make the next calls fail with
`connector.fail_next(status)`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

# Seconds before a wait for calls that never come fails the test instead of hanging it.
HANG_GUARD = 10.0


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    kind: str  # "send" | "reply" | "update"
    conversation_id: str
    activity_id: str | None  # the replyToId or the updated activity id
    body: dict[str, Any]
    authorization: str | None
    posted_id: str = ""  # the id this call's answer gave the message (an update: the updated id)

    @property
    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards carried by this activity."""
        return [
            a["content"]
            for a in self.body.get("attachments") or []
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]

    @property
    def activity_type(self) -> str:
        return str(self.body.get("type", ""))


class FakeConnector:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.refused = 0
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self._failures: list[tuple[int, str | None]] = []
        self.app = web.Application()
        self.app.router.add_post("/v3/conversations/{conversation}/activities", self._send)
        self.app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", self._reply)
        self.app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._update)
        self._server: TestServer | None = None

    @property
    def url(self) -> str:
        """The `serviceUrl` to put on incoming activities (with the trailing slash Teams uses)."""
        assert self._server is not None, "connector not started"
        return str(self._server.make_url("/"))

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        """Refuse the next `times` calls with `status` (and a `Retry-After` header when given)."""
        self._failures.extend([(status, retry_after)] * times)

    def of_kind(self, kind: str) -> list[Call]:
        return [c for c in self.calls if c.kind == kind]

    def messages(self) -> list[Call]:
        """Calls that posted or changed a message (typing indicators left out)."""
        return [c for c in self.calls if c.activity_type == "message"]

    async def wait_for(self, count: int) -> list[Call]:
        """Wait until at least `count` calls were recorded (a hung test is caught by a guard, not a sleep)."""
        async with asyncio.timeout(HANG_GUARD), self._changed:
            await self._changed.wait_for(lambda: len(self.calls) >= count)
        return list(self.calls)

    async def wait_until(self, done: Callable[[list[Call]], bool]) -> list[Call]:
        """Wait until `done(calls)` holds (a hung test is caught by a guard, not a sleep)."""
        async with asyncio.timeout(HANG_GUARD), self._changed:
            await self._changed.wait_for(lambda: done(self.calls))
        return list(self.calls)

    async def _record(self, request: web.Request, kind: str) -> web.Response:
        body = await request.json()
        conversation = request.match_info["conversation"]
        activity = request.match_info.get("activity")
        if self._failures:
            status, retry_after = self._failures.pop(0)
            self.refused += 1
            headers = {"Retry-After": retry_after} if retry_after else None
            error = {"error": {"code": "Failure", "message": "injected"}}
            return web.json_response(error, status=status, headers=headers)
        new_id = activity if kind == "update" and activity else f"act-{next(self._ids)}"
        async with self._changed:
            self.calls.append(
                Call(
                    request.method,
                    kind,
                    conversation,
                    activity,
                    body,
                    request.headers.get("Authorization"),
                    new_id,
                )
            )
            self._changed.notify_all()
        return web.json_response({"id": new_id})

    async def _send(self, request: web.Request) -> web.Response:
        return await self._record(request, "send")

    async def _reply(self, request: web.Request) -> web.Response:
        return await self._record(request, "reply")

    async def _update(self, request: web.Request) -> web.Response:
        return await self._record(request, "update")

    async def start(self) -> None:
        self._server = TestServer(self.app, host="127.0.0.1", port=0)
        await self._server.start_server()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()


@asynccontextmanager
async def running_connector() -> AsyncIterator[FakeConnector]:
    connector = FakeConnector()
    await connector.start()
    try:
        yield connector
    finally:
        await connector.close()
