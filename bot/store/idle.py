"""Idle guard: the fine-tuned deployments each sweep saw (created, last use, when Azure deletes them, snooze,
home conversation), the sweep's commit (rows + outbox in one transaction) and the lease that lets one replica
sweep at a time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, or_, select, update

from bot.schema import idle_deployments, outbox, sweep_leases
from bot.store.base import StoreBase, as_utc, utcnow

if TYPE_CHECKING:
    from bot.store.rows import IdleRow, Queued


def _row(r: Any) -> IdleRow:
    from bot.store.rows import IdleRow

    created = as_utc(r.created_at)
    deletes = as_utc(r.deletes_at)
    assert created is not None and deletes is not None
    return IdleRow(
        resource=r.resource,
        deployment=r.deployment,
        model=r.model,
        sku=r.sku,
        created_at=created,
        deletes_at=deletes,
        last_used_at=as_utc(r.last_used_at),
        kept_alive_at=as_utc(r.kept_alive_at),
        snoozed_until=as_utc(r.snoozed_until),
        conversation_key=r.conversation_key,
        gone_at=as_utc(r.gone_at),
    )


class IdleStore(StoreBase):
    # -- the sweep's lease ------------------------------------------------------------------------------------

    async def claim_sweep(self, name: str, owner: str, *, lease: timedelta, every: timedelta) -> bool:
        """Take the named sweep for `lease` unless another replica holds it or ran it within `every`."""
        now = utcnow()
        seed = self.insert(sweep_leases).values(name=name).on_conflict_do_nothing(index_elements=["name"])
        free = or_(sweep_leases.c.lease_until.is_(None), sweep_leases.c.lease_until < now)
        # A little slack so a replica's own schedule (every `every`) is never refused by its last run.
        not_recent = or_(sweep_leases.c.last_run_at.is_(None), sweep_leases.c.last_run_at < now - every * 0.8)
        take = (
            update(sweep_leases)
            .where(and_(sweep_leases.c.name == name, free, not_recent))
            .values(lease_owner=owner, lease_until=now + lease)
        )
        async with await self.write() as conn:
            await conn.execute(seed)
            result = await conn.execute(take)
        return bool(result.rowcount)

    async def finish_sweep(self, name: str, owner: str, *, ran: bool = True) -> None:
        values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
        if ran:
            values["last_run_at"] = utcnow()
        stmt = (
            update(sweep_leases)
            .where(sweep_leases.c.name == name, sweep_leases.c.lease_owner == owner)
            .values(**values)
        )
        async with await self.write() as conn:
            await conn.execute(stmt)

    # -- deployments ----------------------------------------------------------------------------------------

    async def idle_rows(self, resource: str | None = None) -> dict[tuple[str, str], IdleRow]:
        query = select(idle_deployments)
        if resource is not None:
            query = query.where(idle_deployments.c.resource == resource)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {(r.resource, r.deployment): _row(r) for r in rows}

    async def idle_row(self, resource: str, deployment: str) -> IdleRow | None:
        return (await self.idle_rows(resource)).get((resource, deployment))

    async def commit_idle_sweep(
        self, resource: str, seen: Sequence[IdleRow], gone: Iterable[str], queued: Sequence[Queued]
    ) -> int:
        """One resource's sweep in one transaction: the deployments seen, those gone, the messages to send.
        Returns how many messages were new (a key queued before is a no-op)."""
        now = utcnow()
        new = 0
        async with await self.write() as conn:
            if seen:
                values = [
                    {
                        "resource": row.resource,
                        "deployment": row.deployment,
                        "model": row.model,
                        "sku": row.sku,
                        "created_at": row.created_at,
                        "last_used_at": row.last_used_at,
                        "deletes_at": row.deletes_at,
                        "conversation_key": row.conversation_key,
                        "gone_at": None,
                        "updated_at": now,
                        "kept_alive_at": None,
                        "snoozed_until": None,
                    }
                    for row in seen
                ]
                stmt = self.insert(idle_deployments)
                # A keep-alive or a snooze recorded between the sweep's read and this commit is not undone.
                kept = ("resource", "deployment", "kept_alive_at", "snoozed_until")
                stmt = stmt.on_conflict_do_update(
                    index_elements=["resource", "deployment"],
                    set_={k: stmt.excluded[k] for k in values[0] if k not in kept},
                )
                await conn.execute(stmt, values)  # one executemany for the whole resource
            names = list(gone)
            if names:
                await conn.execute(
                    update(idle_deployments)
                    .where(
                        idle_deployments.c.resource == resource,
                        idle_deployments.c.deployment.in_(names),
                        idle_deployments.c.gone_at.is_(None),
                    )
                    .values(gone_at=now, updated_at=now)
                )
            for q in queued:
                enqueue = self.insert(outbox).values(
                    dedupe_key=q.key,
                    conversation_key=q.conversation_key,
                    payload=dict(q.payload),
                    status="pending",
                    attempts=0,
                    created_at=now,
                )
                result = await conn.execute(enqueue.on_conflict_do_nothing(index_elements=["dedupe_key"]))
                new += result.rowcount or 0
        return new

    async def set_idle_fields(self, resource: str, deployment: str, **values: datetime | None) -> bool:
        """Record a keep-alive (`kept_alive_at`) or a snooze (`snoozed_until`) on a known deployment."""
        allowed = {"kept_alive_at", "snoozed_until"}
        assert set(values) <= allowed, values
        stmt = (
            update(idle_deployments)
            .where(idle_deployments.c.resource == resource, idle_deployments.c.deployment == deployment)
            .values(**values, updated_at=utcnow())
        )
        async with await self.write() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def forget_idle(self, resource: str, deployments: Iterable[str]) -> None:
        names = list(deployments)
        if not names:
            return

        async with await self.write() as conn:
            await conn.execute(
                delete(idle_deployments).where(
                    idle_deployments.c.resource == resource, idle_deployments.c.deployment.in_(names)
                )
            )
