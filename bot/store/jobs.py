"""Jobs started or followed from chat: home conversation, status, watcher cursor and lease."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update

from bot.model import Conversation, User
from bot.schema import jobs
from bot.store.base import StoreBase, as_utc, utcnow

if TYPE_CHECKING:
    from bot.store.rows import StoredJob


# Built once: a `status` (or any job button) reads its job by id, and building the statement and its cache key
# each time cost more than SQLite's lookup.
_JOB_BY_ID = select(jobs).where(jobs.c.job_id == bindparam("job_id"))


class JobStore(StoreBase):
    # -- jobs ---------------------------------------------------------------------------------------------------

    async def record_job(
        self,
        job_id: str,
        *,
        resource: str,
        home: Conversation | None,
        user: User | None,
        model: str | None,
        status: str | None,
    ) -> None:
        """Remember a job started or followed from chat and its home conversation for later alerts."""
        now = utcnow()
        values = {
            "job_id": job_id,
            "resource": resource,
            "home_conversation": home.key if home else None,
            "requested_by": user.id if user else None,
            "requested_by_name": user.name if user else None,
            "model": model,
            "status": status,
            "watch": True,
            "created_at": now,
            "updated_at": now,
        }
        stmt = self.insert(jobs).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["job_id"], set_={"status": stmt.excluded.status, "updated_at": now}
        )
        async with await self.write() as conn:
            await conn.execute(stmt)

    async def get_job(self, job_id: str) -> StoredJob | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(_JOB_BY_ID, {"job_id": job_id})).first()
        return _job(row) if row is not None else None

    async def set_job_status(self, job_id: str, status: str, *, events_cursor: str | None = None) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
        if events_cursor is not None:
            values["events_cursor"] = events_cursor
        async with await self.write() as conn:
            await conn.execute(update(jobs).where(jobs.c.job_id == job_id).values(**values))

    async def jobs_in(self, conversation_key: str, limit: int = 20) -> list[StoredJob]:
        query = (
            select(jobs)
            .where(jobs.c.home_conversation == conversation_key)
            .order_by(jobs.c.created_at.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [_job(r) for r in (await conn.execute(query)).all()]

    async def claim_job_watches(self, owner: str, *, limit: int, lease: timedelta) -> list[StoredJob]:
        """Lease up to `limit` watched jobs whose lease is free or expired."""
        rows = await self.claim(jobs, jobs.c.job_id, jobs.c.watch.is_(True), owner, limit, lease)
        return [_job(r) for r in rows]


def _job(row: Any) -> StoredJob:
    from bot.store.rows import StoredJob

    return StoredJob(
        job_id=row.job_id,
        resource=row.resource,
        home_conversation=row.home_conversation,
        requested_by=row.requested_by,
        requested_by_name=row.requested_by_name,
        model=row.model,
        status=row.status,
        events_cursor=row.events_cursor,
        watch=bool(row.watch),
        created_at=as_utc(row.created_at) or utcnow(),
    )
