"""Chart pictures behind unguessable, expiring URLs (Teams fetches them from the bot)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from bot.schema import chart_images
from bot.store.base import StoreBase, as_utc, utcnow


class ChartStore(StoreBase):
    # -- chart images -----------------------------------------------------------------------------------------

    async def save_chart_image(self, png: bytes, *, ttl: timedelta, job_id: str | None = None) -> str:
        """Keep a PNG for `ttl`; the token (256 random bits, URL-safe) that names it."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with await self.write() as conn:
            await conn.execute(
                chart_images.insert().values(
                    token=token, png=png, job_id=job_id, created_at=now, expires_at=now + ttl
                )
            )
        return token

    async def chart_image(self, token: str, now: datetime | None = None) -> bytes | None:
        """The PNG for `token`, or None when there is none or it has expired."""
        if not token or len(token) > 64:
            return None
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(chart_images.c.png, chart_images.c.expires_at).where(chart_images.c.token == token)
                )
            ).first()
        if row is None:
            return None
        expires = as_utc(row.expires_at)
        if expires is None or expires <= (now or utcnow()):
            return None
        return bytes(row.png)

    async def delete_expired_chart_images(self, now: datetime | None = None) -> int:
        async with await self.write() as conn:
            result = await conn.execute(
                delete(chart_images).where(chart_images.c.expires_at <= (now or utcnow()))
            )
        return int(result.rowcount or 0)
