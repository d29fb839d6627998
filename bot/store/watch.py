"""Job watchers: who follows which job (watch / unwatch), subscriptions to a resource's terminal alerts,
per-conversation settings, and the poll's commit (outbox rows + new cursor + lease release in one transaction).

Leases: a poll claims due jobs (`jobs.lease_*`, `FOR UPDATE SKIP LOCKED` on PostgreSQL) and releases each one
when it commits that job's step; a replica that dies mid-poll holds its jobs only until the lease runs out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, or_, select, update

from bot.schema import job_watchers, jobs, outbox, subscriptions, watch_prefs
from bot.store.base import StoreBase, as_utc, utcnow
from bot.store.jobs import _job

if TYPE_CHECKING:
    from bot.store.rows import OutboxItem, Queued, Subscription, WatchedJob

WatchMode = str  # "stream" | "quiet" | "off"


class _LeaseLost(Exception):
    """Rolls a poll's commit back: another replica took the job meanwhile."""


class WatchStore(StoreBase):
    # -- who follows what ------------------------------------------------------------------------------------

    async def follow_job(
        self,
        job_id: str,
        *,
        resource: str,
        conversation_key: str,
        mode: WatchMode,
        model: str | None = None,
        status: str | None = None,
    ) -> None:
        """Make `conversation_key` follow a job (`stream`, `quiet`) or stop (`off`); the job is (re)watched."""
        now = utcnow()
        row = self.insert(jobs).values(
            job_id=job_id,
            resource=resource,
            model=model,
            status=status,
            watch=True,
            created_at=now,
            updated_at=now,
        )
        row = row.on_conflict_do_nothing(index_elements=["job_id"])
        watcher = self.insert(job_watchers).values(
            job_id=job_id, conversation_key=conversation_key, mode=mode, created_at=now
        )
        watcher = watcher.on_conflict_do_update(
            index_elements=["job_id", "conversation_key"], set_={"mode": watcher.excluded.mode}
        )
        async with await self.write() as conn:
            await conn.execute(row)
            await conn.execute(watcher)
            if mode != "off":
                # A job that already finished stays finished: its terminal alert is in the outbox already
                # (or is sent by this poll when the watcher is new), so only unfinished jobs wake up.
                await conn.execute(
                    update(jobs)
                    .where(jobs.c.job_id == job_id)
                    .values(watch=True, next_poll_at=None, updated_at=now)
                )

    async def watchers_of(self, job_ids: Iterable[str]) -> dict[str, dict[str, WatchMode]]:
        ids = list(job_ids)
        if not ids:
            return {}
        found: dict[str, dict[str, WatchMode]] = {}
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(job_watchers).where(job_watchers.c.job_id.in_(ids)))).all()
        for r in rows:
            found.setdefault(r.job_id, {})[r.conversation_key] = r.mode
        return found

    async def set_quiet(self, conversation_key: str, quiet: bool) -> None:
        stmt = self.insert(watch_prefs).values(
            conversation_key=conversation_key, quiet=quiet, updated_at=utcnow()
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["conversation_key"],
            set_={"quiet": stmt.excluded.quiet, "updated_at": stmt.excluded.updated_at},
        )
        async with await self.write() as conn:
            await conn.execute(stmt)

    async def quiet_conversations(self, keys: Iterable[str]) -> set[str]:
        wanted = list(set(keys))
        if not wanted:
            return set()
        query = select(watch_prefs.c.conversation_key).where(
            watch_prefs.c.conversation_key.in_(wanted), watch_prefs.c.quiet.is_(True)
        )
        async with self.engine.connect() as conn:
            return {r[0] for r in (await conn.execute(query)).all()}

    # -- subscriptions ---------------------------------------------------------------------------------------

    async def subscribe(
        self, conversation_key: str, resource: str, statuses: Iterable[str], created_by: str | None
    ) -> None:
        """Subscribe (or change the statuses of) a conversation to every job of `resource`. Only jobs that
        end after this moment alert: subscribing is not a flood of old results."""
        stmt = self.insert(subscriptions).values(
            conversation_key=conversation_key,
            resource=resource,
            statuses=",".join(sorted(statuses)),
            created_by=created_by,
            created_at=utcnow(),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["conversation_key", "resource"], set_={"statuses": stmt.excluded.statuses}
        )
        async with await self.write() as conn:
            await conn.execute(stmt)

    async def unsubscribe(self, conversation_key: str, resource: str | None = None) -> int:
        stmt = delete(subscriptions).where(subscriptions.c.conversation_key == conversation_key)
        if resource is not None:
            stmt = stmt.where(subscriptions.c.resource == resource)
        async with await self.write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount or 0)

    async def subscriptions(
        self, *, conversation_key: str | None = None, resource: str | None = None
    ) -> list[Subscription]:
        from bot.store.rows import Subscription

        query = select(subscriptions).order_by(subscriptions.c.resource, subscriptions.c.conversation_key)
        if conversation_key is not None:
            query = query.where(subscriptions.c.conversation_key == conversation_key)
        if resource is not None:
            query = query.where(subscriptions.c.resource == resource)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Subscription(
                r.conversation_key,
                r.resource,
                frozenset(s for s in r.statuses.split(",") if s),
                r.created_by,
                as_utc(r.created_at) or utcnow(),
            )
            for r in rows
        ]

    async def discover_jobs(self, resource: str, found: Sequence[tuple[str, str | None]]) -> int:
        """Start watching jobs first seen in a resource's job list (for its subscriptions); known ones are
        left alone. `found` is (job id, model). Returns how many were new."""
        if not found:
            return 0
        now = utcnow()
        known_query = select(jobs.c.job_id).where(jobs.c.job_id.in_([j for j, _ in found]))
        async with await self.write() as conn:
            known = {r[0] for r in (await conn.execute(known_query)).all()}
            fresh = [(j, m) for j, m in found if j not in known]
            for job_id, model in fresh:
                stmt = self.insert(jobs).values(
                    job_id=job_id,
                    resource=resource,
                    model=model,
                    watch=True,
                    created_at=now,
                    updated_at=now,
                )
                await conn.execute(stmt.on_conflict_do_nothing(index_elements=["job_id"]))
        return len(fresh)

    async def known_job_ids(self, job_ids: Iterable[str]) -> set[str]:
        ids = list(job_ids)
        if not ids:
            return set()
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(jobs.c.job_id).where(jobs.c.job_id.in_(ids)))).all()
        return {r[0] for r in rows}

    # -- the poll --------------------------------------------------------------------------------------------

    async def claim_due_watches(self, owner: str, *, limit: int, lease: timedelta) -> list[WatchedJob]:
        """Lease up to `limit` watched jobs that are due (back-off passed) and not leased by anyone."""
        from bot.store.rows import WatchedJob

        now = utcnow()
        due = and_(jobs.c.watch.is_(True), or_(jobs.c.next_poll_at.is_(None), jobs.c.next_poll_at <= now))
        rows = await self.claim(jobs, jobs.c.job_id, due, owner, limit, lease)
        return [WatchedJob(_job(r), r.watch_state or {}, as_utc(r.next_poll_at)) for r in rows]

    async def release_watches(self, job_ids: Iterable[str], owner: str) -> None:
        """Give back leases this replica could not work this time (e.g. Azure did not answer)."""
        ids = list(job_ids)
        if not ids:
            return
        stmt = (
            update(jobs)
            .where(jobs.c.job_id.in_(ids), jobs.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )
        async with await self.write() as conn:
            await conn.execute(stmt)

    async def reschedule_watches(self, due: Mapping[datetime, Sequence[str]], owner: str) -> None:
        """Jobs whose poll changed nothing: set when each is next due and release their leases, one
        statement per distinct time rather than one per job."""
        if not any(due.values()):
            return
        async with await self.write() as conn:
            for at, ids in due.items():
                if ids:
                    await conn.execute(
                        update(jobs)
                        .where(jobs.c.job_id.in_(list(ids)), jobs.c.lease_owner == owner)
                        .values(next_poll_at=at, lease_owner=None, lease_until=None)
                    )

    async def commit_poll(
        self,
        job_id: str,
        owner: str,
        *,
        queued: Sequence[Queued],
        state: Mapping[str, Any],
        status: str | None,
        cursor: str | None,
        next_poll_at: datetime | None,
        done: bool,
    ) -> bool:
        """One job's poll result in one transaction: its notifications (each once per dedupe key), its
        new cursor and state, and the lease released. False (and nothing written) if the lease was lost."""
        now = utcnow()
        values: dict[str, Any] = {
            "watch_state": dict(state),
            "status": status,
            "next_poll_at": next_poll_at,
            "watch": not done,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": now,
        }
        if cursor is not None:
            values["events_cursor"] = cursor
        mine = update(jobs).where(
            jobs.c.job_id == job_id, jobs.c.lease_owner == owner, jobs.c.lease_until >= now
        )
        try:
            async with await self.write() as conn:
                result = await conn.execute(mine.values(**values))
                if not result.rowcount:
                    raise _LeaseLost
                for item in queued:
                    stmt = self.insert(outbox).values(
                        dedupe_key=item.key[:400],
                        conversation_key=item.conversation_key,
                        payload=dict(item.payload),
                        status="pending",
                        attempts=0,
                        created_at=now,
                    )
                    await conn.execute(stmt.on_conflict_do_nothing(index_elements=["dedupe_key"]))
        except _LeaseLost:
            return False
        return True

    # -- outbox delivery -------------------------------------------------------------------------------------

    async def claim_due_outbox(self, owner: str, *, limit: int, lease: timedelta) -> list[OutboxItem]:
        """Lease pending notifications whose `not_before` (a 429's Retry-After) has passed, oldest first, and
        rows left in `sending` by an owner whose lease ran out (it died or stalled mid-send)."""
        from bot.store.rows import OutboxItem

        now = utcnow()
        due = or_(
            and_(
                outbox.c.status == "pending",
                or_(outbox.c.not_before.is_(None), outbox.c.not_before <= now),
            ),
            outbox.c.status == "sending",  # `claim` only takes it once the owner's lease has run out
        )
        rows = await self.claim(outbox, outbox.c.id, due, owner, limit, lease)
        return [
            OutboxItem(
                r.id,
                r.dedupe_key,
                r.conversation_key,
                r.payload,
                r.attempts,
                status=r.status,
                send_started=as_utc(r.not_before) if r.not_before and r.status == "sending" else None,
                created_at=as_utc(r.created_at),
            )
            for r in rows
        ]

    async def defer_outbox(
        self,
        item_id: int,
        owner: str,
        *,
        until: datetime,
        error: str,
        attempt: bool = True,
        maybe_sent: bool = False,
    ) -> None:
        """Put a claimed notification back for later (throttled, thread not there yet, service down).
        `maybe_sent`: the send failed without an answer from the platform (timeout, connection lost), so it
        may have gone out: the row stays `sending` and the next attempt looks before posting."""
        values: dict[str, Any] = {"last_error": error[:2000], "lease_owner": None}
        if maybe_sent:
            # Keep `not_before` = when that send began (the look-back starts there); wait out `until` as an
            # ownerless lease instead, since `claim` takes a `sending` row only once its lease has run out.
            values.update(status="sending", lease_until=until)
        else:
            values.update(status="pending", not_before=until, lease_until=None)
        if attempt:
            values["attempts"] = outbox.c.attempts + 1
        stmt = update(outbox).where(outbox.c.id == item_id, outbox.c.lease_owner == owner).values(**values)
        async with await self.write() as conn:
            await conn.execute(stmt)

    async def outbox_rows(self, status: str | None = None) -> list[Mapping[str, Any]]:
        """Every outbox row (tests, diagnostics)."""
        query = select(outbox).order_by(outbox.c.id)
        if status is not None:
            query = query.where(outbox.c.status == status)
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query)).all()]
