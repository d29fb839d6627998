"""Notifications to send exactly once, leased to one replica at a time.

A row's life: `pending` -> `sending` (committed on its own, just before the platform call; `not_before` then
holds when that send began) -> `sent`. A row found in `sending` whose lease ran out belongs to a replica that
died (or stalled) mid-send: the message may or may not have gone out, so the next owner looks for it before
posting again (see `handlers/watcher.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from bot.model import MessageRef
from bot.schema import outbox
from bot.store.base import StoreBase, as_utc, utcnow
from bot.store.conversations import card_shown_stmt, remember_message_stmt

if TYPE_CHECKING:
    from bot.store.rows import OutboxItem


class OutboxStore(StoreBase):
    # -- outbox -------------------------------------------------------------------------------------------------

    async def enqueue(self, dedupe_key: str, conversation_key: str, payload: Mapping[str, Any]) -> bool:
        """Queue a notification once per dedupe key; False if that key was queued before."""
        stmt = self.insert(outbox).values(
            dedupe_key=dedupe_key,
            conversation_key=conversation_key,
            payload=dict(payload),
            status="pending",
            attempts=0,
            created_at=utcnow(),
        )
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
        async with await self.write() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def claim_outbox(self, owner: str, *, limit: int = 20, lease: timedelta) -> list[OutboxItem]:
        from bot.store.rows import OutboxItem

        rows = await self.claim(outbox, outbox.c.id, outbox.c.status == "pending", owner, limit, lease)
        return [
            OutboxItem(
                r.id, r.dedupe_key, r.conversation_key, r.payload, r.attempts, created_at=as_utc(r.created_at)
            )
            for r in rows
        ]

    async def mark_sending(self, item_id: int, owner: str, *, lease: timedelta) -> datetime | None:
        """Record, in its own commit, that a send of this claimed item starts now (and renew its lease for
        the send). The time recorded, or None if the lease was lost to another replica meanwhile."""
        now = utcnow()
        stmt = (
            update(outbox)
            .where(
                outbox.c.id == item_id,
                outbox.c.lease_owner == owner,
                outbox.c.status.in_(("pending", "sending")),
            )
            .values(status="sending", not_before=now, lease_until=now + lease)
        )
        async with await self.write() as conn:
            result = await conn.execute(stmt)
        return now if result.rowcount else None

    async def mark_sent(
        self,
        item_id: int,
        owner: str,
        *,
        remember: tuple[str, str, MessageRef] | None = None,
        shown: tuple[str, str, str, datetime] | None = None,
    ) -> bool:
        """Complete a claimed item; False if the lease was lost to another replica meanwhile. `remember`
        (card key, conversation key, message) records the posted card in the same commit, so the window
        between a send and its record is that one commit; `shown` (card key, conversation key, message id,
        as of) moves the version of a card this item updated in place (`card_shown`)."""
        stmt = (
            update(outbox)
            .where(
                outbox.c.id == item_id,
                outbox.c.lease_owner == owner,
                outbox.c.status.in_(("pending", "sending")),
            )
            .values(status="sent", sent_at=utcnow(), lease_owner=None, lease_until=None)
        )
        async with await self.write() as conn:
            result = await conn.execute(stmt)
            if remember is not None:
                await conn.execute(remember_message_stmt(self, *remember))
            if shown is not None:
                await conn.execute(card_shown_stmt(*shown))
        return bool(result.rowcount)

    async def mark_failed(self, item_id: int, owner: str, error: str, *, give_up: bool) -> None:
        stmt = (
            update(outbox)
            .where(outbox.c.id == item_id, outbox.c.lease_owner == owner)
            .values(
                status="failed" if give_up else "pending",
                attempts=outbox.c.attempts + 1,
                last_error=error[:2000],
                lease_owner=None,
                lease_until=None,
            )
        )
        async with await self.write() as conn:
            await conn.execute(stmt)
