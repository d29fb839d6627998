"""Persistent state: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) when several replicas share work.

Schema changes go through Alembic migrations (bot/migrations), applied at start-up and by `ftbot db upgrade`.
Work shared between replicas (outbox rows, job watches) is claimed with leases; on PostgreSQL the claim uses
`FOR UPDATE SKIP LOCKED`, so two replicas never take the same row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Table, and_, event, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.model import Conversation, MessageRef, Platform, User
from bot.schema import audit_log, card_messages, conversations, jobs, outbox, seen_events

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything in the store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StoredConversation:
    key: str
    platform: Platform
    conversation_id: str
    kind: str
    team: str | None
    reference: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StoredJob:
    job_id: str
    resource: str
    home_conversation: str | None
    requested_by: str | None
    requested_by_name: str | None
    model: str | None
    status: str | None
    events_cursor: str | None
    watch: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    dedupe_key: str
    conversation_key: str
    payload: Mapping[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    platform: str
    actor: str
    actor_name: str | None
    action: str
    subject: str
    detail: Mapping[str, Any]


def _alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run during a write; busy_timeout waits for the writer instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Store:
    """All reads and writes of the bot's state. Create with `Store.open(url)`, then `await upgrade()`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None

    @classmethod
    def open(cls, url: str) -> Store:
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            _ensure_sqlite_dir(url)
            kwargs = {"connect_args": {"timeout": 30}}
        engine = create_async_engine(url, **kwargs)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return cls(engine)

    async def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations. Replicas starting together on PostgreSQL serialise on an advisory lock."""
        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(7461626)"))
            await conn.run_sync(_upgrade, self.engine.url.render_as_string(hide_password=False), revision)

    async def downgrade(self, revision: str = "base") -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_downgrade, self.engine.url.render_as_string(hide_password=False), revision)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self, within: float = 2.0) -> bool:
        """True when the database answers a trivial query in time (used by /healthz)."""
        try:
            async with asyncio.timeout(within), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception as exc:
            log.warning("store ping failed: %s", type(exc).__name__)
            return False

    # -- helpers -------------------------------------------------------------------------------------------

    def _insert(self, table: Table) -> Any:
        module = postgresql if self.dialect == "postgresql" else sqlite
        return module.insert(table)

    async def _write(self) -> _WriteTx:
        return _WriteTx(self)

    # -- conversations --------------------------------------------------------------------------------------

    async def save_conversation(self, conv: Conversation) -> None:
        now = _now()
        values = {
            "key": conv.key,
            "platform": conv.platform,
            "conversation_id": conv.id,
            "kind": conv.kind,
            "team": conv.team,
            "reference": dict(conv.reference),
            "created_at": now,
            "updated_at": now,
        }
        stmt = self._insert(conversations).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={k: stmt.excluded[k] for k in ("kind", "team", "reference", "updated_at")},
        )
        async with await self._write() as conn:
            await conn.execute(stmt)

    async def get_conversation(self, key: str) -> StoredConversation | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(conversations).where(conversations.c.key == key))).first()
        if row is None:
            return None
        return StoredConversation(
            row.key, row.platform, row.conversation_id, row.kind, row.team, row.reference or {}
        )

    # -- card messages (update in place) ----------------------------------------------------------------------

    async def remember_message(self, card_key: str, conversation_key: str, ref: MessageRef) -> None:
        stmt = self._insert(card_messages).values(
            card_key=card_key,
            conversation_key=conversation_key,
            platform=ref.platform,
            message_id=ref.message_id,
            updated_at=_now(),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["card_key", "conversation_key"],
            set_={"message_id": stmt.excluded.message_id, "updated_at": stmt.excluded.updated_at},
        )
        async with await self._write() as conn:
            await conn.execute(stmt)

    async def find_message(self, card_key: str, conversation_key: str) -> MessageRef | None:
        query = select(card_messages, conversations.c.conversation_id).join(
            conversations, conversations.c.key == card_messages.c.conversation_key, isouter=True
        )
        query = query.where(
            card_messages.c.card_key == card_key, card_messages.c.conversation_key == conversation_key
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        conversation_id = row.conversation_id or conversation_key.split(":", 1)[-1]
        return MessageRef(platform=row.platform, conversation_id=conversation_id, message_id=row.message_id)

    # -- inbound de-duplication -------------------------------------------------------------------------------

    async def seen_event(self, source: str, event_id: str) -> bool:
        """Record an inbound delivery; True if it had been recorded before (a retry to ignore)."""
        stmt = self._insert(seen_events).values(source=source, event_id=event_id, seen_at=_now())
        stmt = stmt.on_conflict_do_nothing(index_elements=["source", "event_id"])
        async with await self._write() as conn:
            result = await conn.execute(stmt)
        return result.rowcount == 0

    async def forget_events_before(self, cutoff: datetime) -> int:
        async with await self._write() as conn:
            result = await conn.execute(seen_events.delete().where(seen_events.c.seen_at < cutoff))
        return int(result.rowcount or 0)

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
        now = _now()
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
        stmt = self._insert(jobs).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["job_id"], set_={"status": stmt.excluded.status, "updated_at": now}
        )
        async with await self._write() as conn:
            await conn.execute(stmt)

    async def get_job(self, job_id: str) -> StoredJob | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(jobs).where(jobs.c.job_id == job_id))).first()
        return _job(row) if row is not None else None

    async def set_job_status(self, job_id: str, status: str, *, events_cursor: str | None = None) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": _now()}
        if events_cursor is not None:
            values["events_cursor"] = events_cursor
        async with await self._write() as conn:
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
        rows = await self._claim(jobs, jobs.c.job_id, jobs.c.watch.is_(True), owner, limit, lease)
        return [_job(r) for r in rows]

    # -- outbox -------------------------------------------------------------------------------------------------

    async def enqueue(self, dedupe_key: str, conversation_key: str, payload: Mapping[str, Any]) -> bool:
        """Queue a notification once per dedupe key; False if that key was queued before."""
        stmt = self._insert(outbox).values(
            dedupe_key=dedupe_key,
            conversation_key=conversation_key,
            payload=dict(payload),
            status="pending",
            attempts=0,
            created_at=_now(),
        )
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
        async with await self._write() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def claim_outbox(self, owner: str, *, limit: int = 20, lease: timedelta) -> list[OutboxItem]:
        rows = await self._claim(outbox, outbox.c.id, outbox.c.status == "pending", owner, limit, lease)
        return [OutboxItem(r.id, r.dedupe_key, r.conversation_key, r.payload, r.attempts) for r in rows]

    async def mark_sent(self, item_id: int, owner: str) -> bool:
        """Complete a claimed item; False if the lease was lost to another replica meanwhile."""
        stmt = (
            update(outbox)
            .where(outbox.c.id == item_id, outbox.c.lease_owner == owner, outbox.c.status == "pending")
            .values(status="sent", sent_at=_now(), lease_owner=None, lease_until=None)
        )
        async with await self._write() as conn:
            result = await conn.execute(stmt)
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
        async with await self._write() as conn:
            await conn.execute(stmt)

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
        async with await self._write() as conn:
            await conn.execute(
                audit_log.insert().values(
                    at=_now(),
                    platform=platform,
                    actor=actor.id,
                    actor_name=actor.name or None,
                    action=action,
                    subject=subject,
                    detail=dict(detail or {}),
                )
            )

    async def audit_trail(self, subject: str) -> list[AuditEntry]:
        query = select(audit_log).where(audit_log.c.subject == subject).order_by(audit_log.c.id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            AuditEntry(_utc(r.at) or _now(), r.platform, r.actor, r.actor_name, r.action, r.subject, r.detail)
            for r in rows
        ]

    # -- leases ---------------------------------------------------------------------------------------------

    async def _claim(
        self, table: Table, pk: Any, eligible: Any, owner: str, limit: int, lease: timedelta
    ) -> Sequence[Any]:
        now = _now()
        # Free = never leased or the lease ran out. Not "leased by me": two overlapping sweeps of one replica
        # must not both take the same row either.
        free = or_(table.c.lease_until.is_(None), table.c.lease_until < now)
        pick = select(pk).where(and_(eligible, free)).order_by(pk).limit(limit)
        if self.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        async with await self._write() as conn:
            ids = [r[0] for r in (await conn.execute(pick)).all()]
            if not ids:
                return []
            await conn.execute(
                update(table).where(pk.in_(ids)).values(lease_owner=owner, lease_until=now + lease)
            )
            return (await conn.execute(select(table).where(pk.in_(ids)).order_by(pk))).all()

    async def count(self, table: Table) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


class _WriteTx:
    """A write transaction. SQLite allows one writer: writes in this process queue on a lock instead of
    failing with `database is locked`; PostgreSQL needs no such lock."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._conn_cm: Any = None

    async def __aenter__(self) -> AsyncConnection:
        if self._store._write_lock is not None:
            await self._store._write_lock.acquire()
        try:
            self._conn_cm = self._store.engine.begin()
            conn: AsyncConnection = await self._conn_cm.__aenter__()
            return conn
        except BaseException:
            if self._store._write_lock is not None:
                self._store._write_lock.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._conn_cm.__aexit__(*exc)
        finally:
            if self._store._write_lock is not None:
                self._store._write_lock.release()


def _job(row: Any) -> StoredJob:
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
        created_at=_utc(row.created_at) or _now(),
    )


def _upgrade(connection: Connection, url: str, revision: str) -> None:
    cfg = _alembic_config(url)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _downgrade(connection: Connection, url: str, revision: str) -> None:
    cfg = _alembic_config(url)
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
