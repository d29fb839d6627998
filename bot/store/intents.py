"""Start intents and file deletions still to do: what makes a `start` safe against crashes and ambiguity.

An intent is written before anything is sent to Azure and completed with the job id after. Every change of
its state is a compare-and-set (`UPDATE ... WHERE state IN (...)`), so a handler and a reconciler (or two
replicas) never both decide what happened:

    uploading --> sent --> created                    (the normal path)
        |          |--> failed                        (Azure refused the create: no job)
        |          '--> unknown --> created | failed  (no clear answer: reconciled with Azure's job list)
        |--> abandoned --> failed                     (gave up before the create; leftovers swept by name)
        '--> failed                                   (found orphaned by the reconciler: uploads deleted)

`notice` = "due" when the conversation still has to be told the outcome (set in the same UPDATE that decides
it), "told" once sent. A handler in flight holds the intent's lease and renews it; the reconciler only takes
intents whose lease has run out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, update

from bot.model import Conversation, User
from bot.schema import file_deletions, jobs, start_intents
from bot.store.base import StoreBase, as_utc, utcnow

if TYPE_CHECKING:
    from bot.store.rows import IntentFile, PendingDeletion, StoredIntent

UPLOADING, SENT, UNKNOWN, ABANDONED = "uploading", "sent", "unknown", "abandoned"
CREATED, FAILED = "created", "failed"
OPEN_STATES = (UPLOADING, SENT, UNKNOWN, ABANDONED)
DUE, TOLD, GAVE_UP = "due", "told", "gave_up"


def upload_prefix(intent_id: str) -> str:
    """Every file a start uploads is named `ftbot-<intent id>-<role>.jsonl`: unique to this attempt, so a
    lost reply is recovered by name and a crash's leftovers are found by name, never someone else's file."""
    return f"ftbot-{intent_id}-"


def conversation_json(conv: Conversation) -> dict[str, Any]:
    return {
        "platform": conv.platform,
        "id": conv.id,
        "kind": conv.kind,
        "team": conv.team,
        "thread": conv.thread,
        "reference": dict(conv.reference),
    }


def _conversation(data: Mapping[str, Any], platform: str) -> Conversation:
    return Conversation(
        platform=data.get("platform", platform),
        id=str(data.get("id", "")),
        kind=data.get("kind", "channel"),
        team=data.get("team"),
        thread=data.get("thread"),
        reference=dict(data.get("reference") or {}),
    )


def _intent(row: Any) -> StoredIntent:
    from bot.store.rows import IntentFile, StoredIntent

    return StoredIntent(
        id=row.id,
        resource=row.resource,
        state=row.state,
        model=row.model,
        request=row.request or {},
        files=tuple(IntentFile.from_json(f) for f in row.files or ()),
        training_file=row.training_file,
        job_id=row.job_id,
        outcome=row.outcome,
        platform=row.platform,
        conversation=_conversation(row.conversation or {}, row.platform),
        user=User(row.user_id, row.user_name or ""),
        notice=row.notice,
        notice_attempts=int(row.notice_attempts or 0),
        sent_at=as_utc(row.sent_at),
        created_at=as_utc(row.created_at) or utcnow(),
        lease_owner=row.lease_owner,
        lease_until=as_utc(row.lease_until),
    )


class IntentStore(StoreBase):
    # -- start intents ----------------------------------------------------------------------------------------

    async def open_intent(
        self,
        intent_id: str,
        *,
        resource: str,
        model: str,
        request: Mapping[str, Any],
        files: Sequence[IntentFile],
        conversation: Conversation,
        user: User,
        owner: str,
        lease: timedelta,
    ) -> None:
        """Record a start before anything is sent to Azure; the caller holds its lease while it runs."""
        now = utcnow()
        async with await self.write() as conn:
            await conn.execute(
                start_intents.insert().values(
                    id=intent_id,
                    resource=resource,
                    state=UPLOADING,
                    model=model,
                    request=dict(request),
                    files=[f.as_json() for f in files],
                    platform=conversation.platform,
                    conversation_key=conversation.key,
                    conversation=conversation_json(conversation),
                    user_id=user.id,
                    user_name=user.name or None,
                    notice_attempts=0,
                    lease_owner=owner,
                    lease_until=now + lease,
                    created_at=now,
                    updated_at=now,
                )
            )

    async def get_intent(self, intent_id: str) -> StoredIntent | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(start_intents).where(start_intents.c.id == intent_id))).first()
        return _intent(row) if row is not None else None

    async def created_without_job(self) -> list[StoredIntent]:
        """Starts whose job was created (the intent says so) but whose job row is missing: the process died
        between the two writes, or the store failed then. One query, however many starts there are."""
        query = (
            select(start_intents)
            .select_from(start_intents.outerjoin(jobs, jobs.c.job_id == start_intents.c.job_id))
            .where(
                start_intents.c.state == CREATED, start_intents.c.job_id.is_not(None), jobs.c.job_id.is_(None)
            )
            .order_by(start_intents.c.created_at)
        )
        async with self.engine.connect() as conn:
            return [_intent(r) for r in (await conn.execute(query)).all()]

    async def intents(self, *, states: Iterable[str] | None = None) -> list[StoredIntent]:
        query = select(start_intents).order_by(start_intents.c.created_at, start_intents.c.id)
        if states is not None:
            query = query.where(start_intents.c.state.in_(list(states)))
        async with self.engine.connect() as conn:
            return [_intent(r) for r in (await conn.execute(query)).all()]

    async def move_intent(
        self, intent_id: str, from_states: Iterable[str], to_state: str, **values: Any
    ) -> bool:
        """Compare-and-set: move the intent to `to_state` only if it is in one of `from_states` now. True when
        this call made the change (whoever else tried lost). `files` may be given as IntentFiles."""
        from bot.store.rows import IntentFile

        if "files" in values:
            values["files"] = [f.as_json() if isinstance(f, IntentFile) else f for f in values["files"]]
        stmt = (
            update(start_intents)
            .where(start_intents.c.id == intent_id, start_intents.c.state.in_(list(from_states)))
            .values(state=to_state, updated_at=utcnow(), **values)
        )
        async with await self.write() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def set_intent_files(self, intent_id: str, files: Sequence[IntentFile]) -> bool:
        """Record the files as they are uploaded (only while no outcome is decided)."""
        stmt = (
            update(start_intents)
            .where(start_intents.c.id == intent_id, start_intents.c.state.in_(OPEN_STATES))
            .values(files=[f.as_json() for f in files], updated_at=utcnow())
        )
        async with await self.write() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def renew_intent(self, intent_id: str, owner: str, lease: timedelta) -> bool:
        """Extend the lease of an intent still held by `owner` (False: someone took it over)."""
        stmt = (
            update(start_intents)
            .where(start_intents.c.id == intent_id, start_intents.c.lease_owner == owner)
            .values(lease_until=utcnow() + lease)
        )
        async with await self.write() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def release_intent(self, intent_id: str, *, not_before: datetime | None = None) -> None:
        """Let go of an intent; the reconciler may take it at `not_before` (now when None)."""
        stmt = (
            update(start_intents)
            .where(start_intents.c.id == intent_id)
            .values(lease_owner=None, lease_until=not_before)
        )
        async with await self.write() as conn:
            await conn.execute(stmt)

    async def claim_intents(self, owner: str, *, limit: int, lease: timedelta) -> list[StoredIntent]:
        """Lease intents that need the reconciler: not finished, or finished with the outcome still untold."""
        eligible = or_(start_intents.c.state.in_(OPEN_STATES), start_intents.c.notice == DUE)
        rows = await self.claim(start_intents, start_intents.c.id, eligible, owner, limit, lease)
        return [_intent(r) for r in rows]

    async def take_over_intents(self, owner: str) -> int:
        """SQLite serves one replica: at start-up every other holder of a lease is a process that died."""
        stmt = (
            update(start_intents)
            .where(
                start_intents.c.lease_owner.is_not(None),
                start_intents.c.lease_owner != owner,
                or_(start_intents.c.state.in_(OPEN_STATES), start_intents.c.notice == DUE),
            )
            .values(lease_owner=None, lease_until=None)
        )
        async with await self.write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount or 0)

    async def notice_told(self, intent_id: str) -> bool:
        stmt = (
            update(start_intents)
            .where(start_intents.c.id == intent_id, start_intents.c.notice == DUE)
            .values(notice=TOLD, updated_at=utcnow(), lease_owner=None, lease_until=None)
        )
        async with await self.write() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def notice_failed(self, intent_id: str, *, give_up: bool, retry_at: datetime) -> None:
        stmt = (
            update(start_intents)
            .where(start_intents.c.id == intent_id, start_intents.c.notice == DUE)
            .values(
                notice=GAVE_UP if give_up else DUE,
                notice_attempts=start_intents.c.notice_attempts + 1,
                lease_owner=None,
                lease_until=retry_at,
            )
        )
        async with await self.write() as conn:
            await conn.execute(stmt)

    async def forget_intents_before(self, cutoff: datetime) -> int:
        """Drop finished intents (outcome decided and told) last changed before `cutoff`."""
        stmt = delete(start_intents).where(
            start_intents.c.state.in_((CREATED, FAILED)),
            or_(start_intents.c.notice.is_(None), start_intents.c.notice != DUE),
            start_intents.c.updated_at < cutoff,
        )
        async with await self.write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount or 0)

    # -- file deletions still to do ---------------------------------------------------------------------------

    async def queue_deletions(
        self, resource: str, file_ids: Iterable[str], *, intent_id: str | None = None
    ) -> None:
        """Remember files to delete before trying, so a failed (or interrupted) delete is retried later."""
        now = utcnow()
        async with await self.write() as conn:
            for file_id in file_ids:
                stmt = self.insert(file_deletions).values(
                    resource=resource,
                    file_id=file_id,
                    intent_id=intent_id,
                    attempts=0,
                    next_at=now,
                    created_at=now,
                )
                await conn.execute(stmt.on_conflict_do_nothing(index_elements=["resource", "file_id"]))

    async def deletion_done(self, resource: str, file_id: str) -> None:
        stmt = delete(file_deletions).where(
            file_deletions.c.resource == resource, file_deletions.c.file_id == file_id
        )
        async with await self.write() as conn:
            await conn.execute(stmt)

    async def deletion_failed(self, resource: str, file_id: str, error: str, *, retry_at: datetime) -> None:
        stmt = (
            update(file_deletions)
            .where(file_deletions.c.resource == resource, file_deletions.c.file_id == file_id)
            .values(
                attempts=file_deletions.c.attempts + 1,
                last_error=error[:2000],
                next_at=retry_at,
                lease_owner=None,
                lease_until=None,
            )
        )
        async with await self.write() as conn:
            await conn.execute(stmt)

    async def claim_deletions(self, owner: str, *, limit: int, lease: timedelta) -> list[PendingDeletion]:
        """Lease deletions whose next attempt is due."""
        due = file_deletions.c.next_at <= utcnow()
        pk = file_deletions.c.file_id
        rows = await self.claim(file_deletions, pk, due, owner, limit, lease)
        return [_deletion(r) for r in rows]

    async def pending_deletions(self) -> list[PendingDeletion]:
        query = select(file_deletions).order_by(file_deletions.c.created_at, file_deletions.c.file_id)
        async with self.engine.connect() as conn:
            return [_deletion(r) for r in (await conn.execute(query)).all()]


def _deletion(row: Any) -> PendingDeletion:
    from bot.store.rows import PendingDeletion

    return PendingDeletion(
        row.resource,
        row.file_id,
        row.intent_id,
        int(row.attempts or 0),
        as_utc(row.next_at) or utcnow(),
        row.last_error,
    )
