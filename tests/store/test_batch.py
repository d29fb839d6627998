"""The request path's write batch (bot/store/batch.py) on SQLite and PostgreSQL: shared commits, the same
answers as one write at a time, a bounded queue, nothing lost when the store closes."""

from __future__ import annotations

import asyncio

from bot.model import Conversation, MessageRef
from bot.store import Store


def ref(n: int) -> MessageRef:
    return MessageRef(platform="slack", conversation_id="C1", message_id=f"{n}.000")


async def test_concurrent_writes_share_commits_and_keep_their_answers(store: Store) -> None:
    commits = store.batch.commits
    first = await asyncio.gather(*(store.seen_event("slack", f"Ev{i % 10}") for i in range(40)))
    # Each id is new exactly once, whether its repeats came in the same commit or a later one.
    assert first.count(False) == 10 and first.count(True) == 30
    assert await store.seen_event("slack", "Ev3") is True
    assert await store.seen_event("teams", "Ev3") is False

    await asyncio.gather(*(store.remember_message(f"job:{i % 5}", "slack:C1", ref(i)) for i in range(25)))
    for k in range(5):
        found = await store.find_message(f"job:{k}", "slack:C1")
        assert found is not None and found.message_id == f"{20 + k}.000"  # the last one queued wins
    assert store.batch.commits - commits <= 6


async def test_one_conversation_saved_by_many_is_written_once(store: Store) -> None:
    conv = Conversation("slack", "C1", kind="channel", team="T1", reference={"channel": "C1", "team": "T1"})
    await asyncio.gather(*(store.save_conversation(conv) for _ in range(50)))
    written = store.batch.written
    await store.save_conversation(conv)
    assert store.batch.written == written  # already saved in this state: no write at all
    moved = Conversation("slack", "C1", kind="channel", team="T1", reference={"channel": "C1", "team": "T2"})
    await store.save_conversation(moved)
    assert store.batch.written == written + 1
    saved = await store.get_conversation("slack:C1")
    assert saved is not None and saved.reference == {"channel": "C1", "team": "T2"}


async def test_the_queue_is_bounded_callers_wait_for_room(store: Store) -> None:
    store.batch.limit = 8
    await asyncio.gather(*(store.seen_event("bound", f"e{i}") for i in range(200)))
    assert store.batch.max_backlog <= 8
    assert store.batch.backlog == 0


async def test_writes_queued_when_the_store_closes_are_committed(store: Store) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    writes = [
        asyncio.ensure_future(store.remember_message(f"job:{i}", "slack:C9", ref(i))) for i in range(50)
    ]
    await asyncio.sleep(0)  # queued, not committed yet
    assert store.batch.backlog == 50
    await store.close()
    assert all(w.done() and w.exception() is None for w in writes)

    reopened = Store.open(url)
    try:
        for i in range(50):
            assert await reopened.find_message(f"job:{i}", "slack:C9") is not None
    finally:
        await reopened.close()


async def test_reads_holding_every_pooled_connection_do_not_hold_up_the_writes(store: Store) -> None:
    """SQLite writes go through the store's own write connection: a burst of reads that takes every pooled
    connection (bench/ack.py's flood) must not make the request path's bookkeeping wait for one."""
    if store.dialect != "sqlite":
        return  # PostgreSQL has no single writer: each write takes a pooled connection, like the reads
    pool = store.engine.sync_engine.pool
    held = [await store.engine.connect() for _ in range(pool.size() + pool._max_overflow)]  # type: ignore[attr-defined]
    try:
        async with asyncio.timeout(2):
            assert await store.seen_event("slack", "while-read") is False
            await store.remember_message("job:r", "slack:C1", ref(1))
    finally:
        for conn in held:
            await conn.close()
    found = await store.find_message("job:r", "slack:C1")
    assert found is not None and found.message_id == "1.000"


async def test_a_failed_write_leaves_the_next_one_a_working_connection(store: Store) -> None:
    from sqlalchemy import text

    try:
        async with await store.write() as conn:
            await conn.execute(text("INSERT INTO no_such_table VALUES (1)"))
    except Exception as exc:
        assert "no_such_table" in str(exc)
    else:
        raise AssertionError("the insert should have failed")
    assert await store.seen_event("slack", "after-failure") is False
    assert await store.seen_event("slack", "after-failure") is True
