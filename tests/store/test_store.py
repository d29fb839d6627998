"""One store suite, run against a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from bot.model import Conversation, MessageRef, User
from bot.schema import metadata, outbox
from bot.store import Store

ALICE = User(id="U1", name="Alice")
CHANNEL = Conversation(platform="slack", id="C42", team="T1", reference={"channel": "C42", "team": "T1"})


async def test_migrations_create_the_declared_schema(store: Store) -> None:
    async with store.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        columns = {
            t: await conn.run_sync(lambda c, t=t: {col["name"] for col in inspect(c).get_columns(t)})
            for t in metadata.tables
        }
    assert set(metadata.tables) <= tables
    for name, table in metadata.tables.items():
        assert columns[name] == {c.name for c in table.columns}, name


async def test_upgrade_is_idempotent(store: Store) -> None:
    await store.upgrade()
    assert await store.ping()


async def test_conversation_round_trip_and_update(store: Store) -> None:
    await store.save_conversation(CHANNEL)
    got = await store.get_conversation("slack:C42")
    assert got is not None and got.reference == {"channel": "C42", "team": "T1"} and got.team == "T1"
    moved = Conversation(platform="slack", id="C42", team="T2", reference={"channel": "C42", "team": "T2"})
    await store.save_conversation(moved)
    again = await store.get_conversation("slack:C42")
    assert again is not None and again.team == "T2"
    assert await store.get_conversation("slack:nope") is None


async def test_card_message_is_remembered_per_conversation(store: Store) -> None:
    await store.save_conversation(CHANNEL)
    await store.remember_message("job:ftjob-1", CHANNEL.key, MessageRef("slack", "C42", "111.1"))
    await store.remember_message("job:ftjob-1", CHANNEL.key, MessageRef("slack", "C42", "222.2"))
    found = await store.find_message("job:ftjob-1", CHANNEL.key)
    assert found == MessageRef("slack", "C42", "222.2")
    assert await store.find_message("job:ftjob-1", "teams:other") is None


async def test_seen_event_reports_retries(store: Store) -> None:
    assert await store.seen_event("slack", "Ev1") is False
    assert await store.seen_event("slack", "Ev1") is True
    assert await store.seen_event("teams", "Ev1") is False


async def test_concurrent_duplicate_deliveries_are_seen_once(store: Store) -> None:
    results = await asyncio.gather(*(store.seen_event("slack", "EvDup") for _ in range(8)))
    assert sorted(results) == [False] + [True] * 7


async def test_job_record_keeps_home_and_requester(store: Store) -> None:
    await store.save_conversation(CHANNEL)
    await store.record_job(
        "ftjob-abc", resource="default", home=CHANNEL, user=ALICE, model="gpt-4o-mini", status="pending"
    )
    await store.set_job_status("ftjob-abc", "running", events_cursor="ftevent-9")
    job = await store.get_job("ftjob-abc")
    assert job is not None
    assert (job.home_conversation, job.requested_by, job.status, job.events_cursor) == (
        "slack:C42",
        "U1",
        "running",
        "ftevent-9",
    )
    assert job.created_at.tzinfo is not None
    assert [j.job_id for j in await store.jobs_in("slack:C42")] == ["ftjob-abc"]


async def test_outbox_deduplicates_by_key(store: Store) -> None:
    assert await store.enqueue("job:ftjob-1:succeeded:slack:C42", "slack:C42", {"text": "done"})
    assert not await store.enqueue("job:ftjob-1:succeeded:slack:C42", "slack:C42", {"text": "done"})
    assert await store.count(outbox) == 1


async def test_outbox_claims_are_exclusive_between_owners(store: Store) -> None:
    for i in range(10):
        await store.enqueue(f"k{i}", "slack:C42", {"i": i})
    lease = timedelta(minutes=5)
    first, second = await asyncio.gather(
        store.claim_outbox("replica-a", limit=6, lease=lease),
        store.claim_outbox("replica-b", limit=6, lease=lease),
    )
    ids_a, ids_b = {i.id for i in first}, {i.id for i in second}
    assert not ids_a & ids_b
    assert len(ids_a | ids_b) == 10
    item = first[0] if first else second[0]
    owner = "replica-a" if first else "replica-b"
    assert await store.mark_sent(item.id, owner)
    assert not await store.mark_sent(item.id, owner), "sent twice"


async def test_overlapping_sweeps_of_one_replica_take_different_rows(store: Store) -> None:
    for i in range(6):
        await store.enqueue(f"k{i}", "slack:C42", {"i": i})
    lease = timedelta(minutes=5)
    batches = await asyncio.gather(*(store.claim_outbox("replica-a", limit=2, lease=lease) for _ in range(3)))
    ids = [item.id for batch in batches for item in batch]
    assert len(ids) == len(set(ids)) == 6


async def test_expired_lease_can_be_taken_over(store: Store) -> None:
    await store.enqueue("k", "slack:C42", {})
    [item] = await store.claim_outbox("a", limit=5, lease=timedelta(seconds=-1))
    [again] = await store.claim_outbox("b", limit=5, lease=timedelta(minutes=1))
    assert again.id == item.id
    assert not await store.mark_sent(item.id, "a"), "the old owner lost its lease"
    assert await store.mark_sent(item.id, "b")


async def test_failed_send_is_retried_then_given_up(store: Store) -> None:
    await store.enqueue("k", "slack:C42", {})
    [item] = await store.claim_outbox("a", limit=1, lease=timedelta(minutes=1))
    await store.mark_failed(item.id, "a", "429", give_up=False)
    [retry] = await store.claim_outbox("a", limit=1, lease=timedelta(minutes=1))
    assert retry.attempts == 1
    await store.mark_failed(retry.id, "a", "403 blocked", give_up=True)
    assert await store.claim_outbox("a", limit=1, lease=timedelta(minutes=1)) == []


async def test_job_watch_claims(store: Store) -> None:
    for i in range(3):
        await store.record_job(f"ftjob-{i}", resource="r", home=None, user=None, model=None, status="running")
    lease = timedelta(minutes=1)
    a = await store.claim_job_watches("a", limit=2, lease=lease)
    b = await store.claim_job_watches("b", limit=2, lease=lease)
    assert len(a) == 2 and len(b) == 1
    assert {j.job_id for j in a}.isdisjoint({j.job_id for j in b})


async def test_audit_trail(store: Store) -> None:
    await store.audit(
        platform="slack", actor=ALICE, action="job.cancel", subject="ftjob-1", detail={"ok": True}
    )
    [entry] = await store.audit_trail("ftjob-1")
    assert (entry.actor, entry.actor_name, entry.action, entry.detail) == (
        "U1",
        "Alice",
        "job.cancel",
        {"ok": True},
    )


async def test_ping_false_when_database_is_unreachable() -> None:
    dead = Store.open("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    assert await dead.ping(within=2) is False
    await dead.close()


async def test_downgrade_to_base_removes_everything(sqlite_url: str) -> None:
    s = Store.open(sqlite_url)
    await s.upgrade()
    await s.downgrade("base")
    async with s.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await s.close()
    assert tables <= {"alembic_version"}


@pytest.mark.postgres
async def test_two_replicas_never_claim_the_same_row(postgres_server: str) -> None:
    """Two engines (as two replicas would have) race for outbox rows on PostgreSQL: no row is leased twice."""
    from sqlalchemy import text

    first, second = Store.open(postgres_server), Store.open(postgres_server)
    try:
        async with first.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await first.upgrade()
        for i in range(40):
            await first.enqueue(f"race-{i}", "slack:C42", {"i": i})
        lease = timedelta(minutes=5)
        claims = await asyncio.gather(
            *(first.claim_outbox("replica-a", limit=2, lease=lease) for _ in range(12)),
            *(second.claim_outbox("replica-b", limit=2, lease=lease) for _ in range(12)),
        )
        by_a = [item.id for batch in claims[:12] for item in batch]
        by_b = [item.id for batch in claims[12:] for item in batch]
        assert not set(by_a) & set(by_b), "a row was leased by both replicas"
        assert len(by_a) == len(set(by_a)) and len(by_b) == len(set(by_b))
        assert len(by_a) + len(by_b) == 40
    finally:
        await first.close()
        await second.close()


def test_head_revision_is_alembics_head() -> None:
    """Start-up skips Alembic when the database is at `HEAD_REVISION`: it must be the newest migration."""
    from alembic.script import ScriptDirectory

    from bot.schema import HEAD_REVISION
    from bot.store.base import MIGRATIONS, _alembic_config

    cfg = _alembic_config("sqlite+aiosqlite:///unused.db")
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION
    assert MIGRATIONS.is_dir()


async def test_a_database_at_the_head_is_opened_without_alembic(store: Store) -> None:
    assert await store.revision() == "0008"
    await store.upgrade()  # one query: nothing to migrate
    assert await store.revision() == "0008"


async def test_open_store_keeps_the_timed_store_it_asked_and_opens_one_engine_to_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new database: the timed store's one query finds no schema, an engine without the timeout creates it
    (not asked again), and the timed store is the one the bot gets. At the head: that one query, one engine."""
    from bot.app import open_store
    from bot.config import Settings
    from bot.schema import HEAD_REVISION

    opened: list[Store] = []
    real = Store.open.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Store], url: str, *, timeout: float | None = None) -> Store:
        store: Store = real(cls, url, timeout=timeout)
        opened.append(store)
        return store

    monkeypatch.setattr(Store, "open", classmethod(counting))
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/new.db", db_timeout=7)
    for run, engines in (("new", [7, None]), ("at the head", [7])):
        opened.clear()
        store = await open_store(settings)
        try:
            assert [s.timeout for s in opened] == engines, run
            assert store is opened[0]
            assert await store.revision() == HEAD_REVISION
        finally:
            await store.close()
