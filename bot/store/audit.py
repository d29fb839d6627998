"""Who did what, when."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bot.model import User
from bot.schema import audit_log
from bot.store.base import StoreBase, as_utc, utcnow

if TYPE_CHECKING:
    from bot.store.rows import AuditEntry


class AuditStore(StoreBase):
    # -- audit ----------------------------------------------------------------------------------------------

    async def audit(
        self,
        *,
        platform: str,
        actor: User,
        action: str,
        subject: str,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        async with await self.write() as conn:
            await conn.execute(
                audit_log.insert().values(
                    at=utcnow(),
                    platform=platform,
                    actor=actor.id,
                    actor_name=actor.name or None,
                    action=action,
                    subject=subject,
                    detail=dict(detail or {}),
                )
            )

    async def audit_trail(self, subject: str) -> list[AuditEntry]:
        from bot.store.rows import AuditEntry

        query = select(audit_log).where(audit_log.c.subject == subject).order_by(audit_log.c.id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            AuditEntry(
                as_utc(r.at) or utcnow(), r.platform, r.actor, r.actor_name, r.action, r.subject, r.detail
            )
            for r in rows
        ]
