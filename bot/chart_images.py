"""Chart pictures at unguessable, expiring URLs under the bot's public URL (`/charts/<token>.png`).

Teams shows an Image by fetching its URL, and a chart PNG is too big to travel inside an 80 KB card, so the
bot serves it: the PNG is stored in the database (any replica can answer), named by 256 random bits, and
answers 404 once `FTBOT_CHART_TTL_DAYS` have passed or for any other token.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta

from aiohttp import web

from bot.config import Settings
from bot.store import Store

log = logging.getLogger(__name__)

ROUTE = "/charts/{name}"
_NAME = re.compile(r"^([A-Za-z0-9_-]{20,64})\.png$")


class ChartImages:
    def __init__(self, store: Store, settings: Callable[[], Settings]) -> None:
        self._store = store
        self._settings = settings

    async def publish(self, png: bytes, job_id: str | None = None) -> str:
        """Store `png`; the URL it is served at until it expires."""
        settings = self._settings()
        token = await self._store.save_chart_image(
            png, ttl=timedelta(days=settings.chart_ttl_days), job_id=job_id
        )
        return f"{settings.base_url}/charts/{token}.png"

    async def serve(self, request: web.Request) -> web.Response:
        match = _NAME.match(request.match_info.get("name", ""))
        png = await self._store.chart_image(match.group(1)) if match else None
        if png is None:
            return web.Response(status=404, text="not found")
        return web.Response(
            body=png,
            content_type="image/png",
            headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    def mount(self, app: web.Application) -> None:
        app.router.add_get(ROUTE, self.serve)

    async def prune(self) -> int:
        removed = await self._store.delete_expired_chart_images()
        if removed:
            log.debug("removed %d expired chart pictures", removed)
        return removed
