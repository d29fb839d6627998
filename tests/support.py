"""Small helpers shared by test areas: a throwaway HTTP server on an ephemeral loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from emulator import datasets


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1:0 for the block; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def datasets_app(prefix: str = "/") -> web.Application:
    """The sample datasets as static files, like a blob SAS URL or a Teams download URL would serve them."""
    app = web.Application()
    app.router.add_static(prefix, str(datasets.path("good_training").parent))
    return app
