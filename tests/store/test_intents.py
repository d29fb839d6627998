"""Start intents and queued file deletions on a real SQLite file and a real PostgreSQL: every decision is a
compare-and-set, so two deciders (a handler and a reconciler, or two replicas) never both win."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.model import Conversation, User
from bot.store import IntentFile, Store
from bot.store.base import utcnow
from bot.store.intents import (
    ABANDONED,
    CREATED,
    DUE,
    FAILED,
    SENT,
    TOLD,
    UNKNOWN,
    UPLOADING,
    upload_prefix,
)

ALICE = User("U1", "Alice")
CHANNEL = Conversation("slack", "C1", thread="1700000000.000100", reference={"channel": "C1", "team": "T1"})
LEASE = timedelta(minutes=1)


async def _open(store: Store, intent_id: str = "abc123", owner: str = "replica-a") -> None:
    await store.open_intent(
        intent_id,
        resource="default",
        model="gpt-4o-mini-2024-07-18",
        request={"seed": 7, "suffix": "v1"},
        files=[IntentFile("training", "train.jsonl", "file-given")],
        conversation=CHANNEL,
        user=ALICE,
        owner=owner,
        lease=LEASE,
    )


async def test_an_intent_keeps_what_the_reconciler_needs(store: Store) -> None:
    await _open(store)
    files = [
        IntentFile("training", "train.jsonl", "file-1", f"{upload_prefix('abc123')}training.jsonl", True)
    ]
    assert await store.set_intent_files("abc123", files)
    intent = await store.get_intent("abc123")
    assert intent is not None and intent.state == UPLOADING and intent.lease_owner == "replica-a"
    assert intent.conversation == CHANNEL and intent.conversation.reference == CHANNEL.reference
    assert intent.conversation.thread == CHANNEL.thread and intent.user == ALICE
    assert intent.request == {"seed": 7, "suffix": "v1"} and intent.ours == files
    assert intent.upload_prefix == "ftbot-abc123-"


async def test_only_one_of_two_racing_decisions_wins(store: Store) -> None:
    await _open(store)
    assert await store.move_intent("abc123", (UPLOADING,), SENT, training_file="file-1", sent_at=utcnow())
    outcomes = await asyncio.gather(
        store.move_intent("abc123", (SENT, UNKNOWN), CREATED, job_id="ftjob-1", notice=DUE),
        store.move_intent("abc123", (SENT, UNKNOWN), FAILED, outcome="no_job", notice=DUE),
    )
    assert sorted(outcomes) == [False, True]
    assert not await store.move_intent("abc123", (UPLOADING,), ABANDONED), "a decided start stays decided"
    assert not await store.set_intent_files("abc123", []), "no files change after the outcome"


async def test_a_live_lease_keeps_the_reconciler_away_until_it_runs_out(store: Store) -> None:
    await _open(store, "live", owner="replica-a")
    await _open(store, "dead", owner="replica-b")
    await store.release_intent("dead", not_before=utcnow() - timedelta(seconds=1))
    claimed = await store.claim_intents("replica-c", limit=10, lease=LEASE)
    assert [i.id for i in claimed] == ["dead"]
    assert await store.renew_intent("live", "replica-a", LEASE)
    assert not await store.renew_intent("dead", "replica-b", LEASE), "its lease was taken over"


async def test_start_up_on_one_replica_takes_over_leases_of_the_dead(store: Store) -> None:
    await _open(store, "orphan", owner="old-process")
    assert await store.claim_intents("new-process", limit=10, lease=LEASE) == []
    assert await store.take_over_intents("new-process") == 1
    [claimed] = await store.claim_intents("new-process", limit=10, lease=LEASE)
    assert claimed.id == "orphan"


async def test_an_outcome_is_told_once_and_retried_until_then(store: Store) -> None:
    await _open(store)
    assert await store.move_intent(
        "abc123", (UPLOADING,), FAILED, outcome="not_sent", notice=DUE, lease_owner=None, lease_until=None
    )
    [due] = await store.claim_intents("r", limit=5, lease=LEASE)
    await store.notice_failed(due.id, give_up=False, retry_at=utcnow() - timedelta(seconds=1))
    [again] = await store.claim_intents("r", limit=5, lease=LEASE)
    assert again.notice_attempts == 1
    assert await store.notice_told(again.id)
    assert not await store.notice_told(again.id)
    assert await store.claim_intents("r", limit=5, lease=LEASE) == []
    intent = await store.get_intent("abc123")
    assert intent is not None and intent.notice == TOLD


async def test_deletions_are_remembered_until_azure_confirms(store: Store) -> None:
    await store.queue_deletions("default", ["file-1", "file-2"], intent_id="abc123")
    await store.queue_deletions("default", ["file-1"])  # queued twice: still one row
    first = await store.claim_deletions("r", limit=10, lease=LEASE)
    assert sorted(d.file_id for d in first) == ["file-1", "file-2"]
    assert await store.claim_deletions("r2", limit=10, lease=LEASE) == []  # leased
    await store.deletion_done("default", "file-1")
    await store.deletion_failed("default", "file-2", "HTTP 429", retry_at=utcnow() + timedelta(minutes=5))
    [left] = await store.pending_deletions()
    assert (left.file_id, left.attempts, left.last_error, left.intent_id) == (
        "file-2",
        1,
        "HTTP 429",
        "abc123",
    )
    assert await store.claim_deletions("r", limit=10, lease=LEASE) == []  # not due yet


async def test_finished_intents_are_forgotten_after_a_while(store: Store) -> None:
    await _open(store, "done")
    await _open(store, "due")
    await _open(store, "open")
    assert await store.move_intent("done", (UPLOADING,), FAILED, outcome="invalid_data")
    assert await store.move_intent("due", (UPLOADING,), FAILED, outcome="not_sent", notice=DUE)
    assert await store.forget_intents_before(utcnow() - timedelta(days=1)) == 0
    assert await store.forget_intents_before(utcnow() + timedelta(seconds=1)) == 1
    assert sorted(i.id for i in await store.intents()) == ["due", "open"]


async def test_a_created_start_whose_job_row_was_lost_is_found(store: Store) -> None:
    from types import SimpleNamespace

    from handlers.reconcile import record_created

    intent_id, job_id = "lost1", "ftjob-" + "1" * 32
    await _open(store, intent_id)
    # Azure created the job and the intent says so; the process died before the job row was written.
    assert await store.move_intent(intent_id, (UPLOADING,), CREATED, job_id=job_id, outcome="created")
    ctx = SimpleNamespace(store=store)
    assert [i.id for i in await store.created_without_job()] == [intent_id]
    assert await record_created(ctx) == 1  # type: ignore[arg-type]
    assert (await store.get_job(job_id)) is not None
    assert await store.created_without_job() == []
