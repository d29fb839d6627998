"""Inbound deliveries already handled (Slack retries, Teams redeliveries)."""

from __future__ import annotations

from datetime import datetime

from bot.schema import seen_events
from bot.store.base import StoreBase


class InboundStore(StoreBase):
    # -- inbound de-duplication -------------------------------------------------------------------------------

    async def seen_event(self, source: str, event_id: str) -> bool:
        """Record an inbound delivery; True if it had been recorded before (a retry to ignore). Committed
        with the other request-path writes of the moment (`bot.store.batch`); durable when it returns."""
        return await self.batch.seen_event(source, event_id)

    async def forget_events_before(self, cutoff: datetime) -> int:
        async with await self.write() as conn:
            result = await conn.execute(seen_events.delete().where(seen_events.c.seen_at < cutoff))
        return int(result.rowcount or 0)
