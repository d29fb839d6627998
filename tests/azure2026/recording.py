"""A small recording proxy in front of the emulator: what went over the wire, as the emulator received it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from bot.config import AzureResource
from tests.support import serve

HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


@asynccontextmanager
async def recording_proxy(
    target: str, seen: list[tuple[str, URL]], refuse: Callable[[str], bool] = lambda path: False
) -> AsyncIterator[str]:
    """Forward every request to `target` unchanged, noting (method, URL) in `seen`; yields the proxy's URL.
    Paths for which `refuse` is true get Azure's 404 instead (a resource that does not serve that route)."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:

        async def forward(request: web.Request) -> web.StreamResponse:
            seen.append((request.method, request.rel_url))
            if refuse(request.rel_url.path):
                return web.json_response(
                    {"error": {"code": "404", "message": "Resource not found"}}, status=404
                )
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
            async with session.request(
                request.method,
                URL(target.rstrip("/") + request.rel_url.path).with_query(request.rel_url.query),
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as answer:
                body = await answer.read()
                out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
                return web.Response(status=answer.status, body=body, headers=out)

        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", forward)
        async with serve(app) as url:
            yield url


def v1_resource(emulator: Any, endpoint: str, name: str = "next") -> AzureResource:
    """A resource of the TOML on Azure's v1 API (`api_version = "v1"`), the emulator's account behind
    `endpoint` (a recording proxy), its key in FTBOT_TEST_NEXT_KEY."""
    return AzureResource(
        name=name,
        endpoint=endpoint,
        api_key_env="FTBOT_TEST_NEXT_KEY",
        subscription_id=emulator.subscription_id,
        resource_group=emulator.resource_group,
        account_name=emulator.account_name,
        api_version="v1",
    )
