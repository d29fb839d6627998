"""Concurrent point reads sharing one query (bot/store/read_batch.py, behind `Store.get_job`): the same answers
as one query each, never an answer older than the question, bounded queries, failures to their callers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from bot.model import Conversation, User
from bot.store import Store
from bot.store.read_batch import ReadBatch


class Table:
    """A dict read through `fetch`, which may be held mid-query (`hold`) to see what a running query takes."""

    def __init__(self, rows: dict[str, int]) -> None:
        self.rows = rows
        self.queries: list[list[str]] = []
        self.hold: asyncio.Event | None = None
        self.running = 0
        self.most_running = 0
        self.fail: BaseException | None = None
        self.started = asyncio.Event()  # a query began

    async def fetch(self, keys: Sequence[str]) -> Mapping[str, int]:
        self.queries.append(list(keys))
        self.started.set()
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            snapshot = dict(self.rows)  # what the query sees: the rows as they are when it starts
            if self.hold is not None:
                await self.hold.wait()
            if self.fail is not None:
                raise self.fail
            return {k: snapshot[k] for k in keys if k in snapshot}
        finally:
            self.running -= 1


async def test_reads_of_the_same_moment_share_one_query_and_keep_their_answers() -> None:
    table = Table({"a": 1, "b": 2})
    reads = ReadBatch(table.fetch)
    got = await asyncio.gather(*(reads.get(k) for k in ["a", "b", "missing", "a", "b", "a"]))
    assert got == [1, 2, None, 1, 2, 1]
    assert len(table.queries) == 1 and sorted(table.queries[0]) == ["a", "b", "missing"]  # each key once
    assert (reads.queries, reads.reads) == (1, 6)
    assert await reads.get("b") == 2 and len(table.queries) == 2  # a read on its own: a query of its own


async def test_a_read_asked_while_a_query_runs_is_answered_by_a_later_query() -> None:
    # Freshness: a caller must see every write committed before it asked, so a query already under way
    # (which may have read the row before that write) never answers it.
    table = Table({"job": 1})
    table.hold = asyncio.Event()
    reads = ReadBatch(table.fetch)
    first = asyncio.ensure_future(reads.get("job"))
    await table.started.wait()
    table.rows["job"] = 2  # written (committed) while the first query runs
    second = asyncio.ensure_future(reads.get("job"))
    await asyncio.sleep(0)
    table.hold.set()
    assert await first == 1
    assert await second == 2
    assert len(table.queries) == 2


async def test_queries_are_bounded_in_size_and_number() -> None:
    table = Table({f"k{i}": i for i in range(50)})
    table.hold = asyncio.Event()
    reads = ReadBatch(table.fetch, per_query=4, max_queries=2)
    waves = []
    for wave in range(5):  # reads arriving over several loop turns while the queries are held
        waves += [asyncio.ensure_future(reads.get(f"k{wave * 10 + i}")) for i in range(10)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    table.hold.set()
    got = await asyncio.gather(*waves)
    assert got == [wave * 10 + i for wave in range(5) for i in range(10)]
    assert table.most_running <= 2
    assert all(len(q) <= 4 for q in table.queries)
    assert sorted(k for q in table.queries for k in q) == sorted(f"k{i}" for i in range(50))


async def test_a_failed_query_fails_its_reads_only() -> None:
    table = Table({"a": 1})
    reads = ReadBatch(table.fetch)
    table.fail = OSError("database gone")
    results = await asyncio.gather(reads.get("a"), reads.get("b"), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    table.fail = None
    assert await reads.get("a") == 1  # the next query is tried afresh


async def test_a_caller_that_gives_up_leaves_the_others_their_answer() -> None:
    table = Table({"a": 1})
    table.hold = asyncio.Event()
    reads = ReadBatch(table.fetch)
    impatient = asyncio.ensure_future(reads.get("a"))
    patient = asyncio.ensure_future(reads.get("a"))
    await table.started.wait()
    impatient.cancel()
    table.hold.set()
    assert await patient == 1
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_concurrent_get_job_on_the_store(store: Store) -> None:
    home = Conversation("slack", "C1", kind="channel", team="T1")
    for i in range(5):
        await store.record_job(
            f"ftjob-{i}", resource="r", home=home, user=User(f"U{i}", "u"), model="m", status="running"
        )
    reads = store._job_reads
    before = reads.queries
    got = await asyncio.gather(*(store.get_job(f"ftjob-{i % 7}") for i in range(70)))
    assert reads.queries - before <= 2  # one query for the lot (two if the moment was split)
    for i, job in enumerate(got):
        if i % 7 >= 5:
            assert job is None
        else:
            assert job is not None and job.job_id == f"ftjob-{i % 7}"
            assert (job.requested_by, job.home_conversation) == (f"U{i % 7}", home.key)
    # A write committed before the read is seen by it.
    await store.set_job_status("ftjob-1", "succeeded")
    job = await store.get_job("ftjob-1")
    assert job is not None and job.status == "succeeded"


async def test_callers_are_woken_a_few_a_loop_turn() -> None:
    # A burst's callers all woken in one turn would each run on to their next step in that turn, and every
    # request waiting meanwhile would wait for all of them.
    table = Table({f"k{i}": i for i in range(20)})
    reads = ReadBatch(table.fetch, wake_per_turn=4)
    turn = [0]
    woken_at: list[int] = []

    async def count_turns() -> None:
        while True:
            await asyncio.sleep(0)
            turn[0] += 1

    async def read(key: str) -> int | None:
        value = await reads.get(key)
        woken_at.append(turn[0])
        return value

    counter = asyncio.ensure_future(count_turns())
    try:
        got = await asyncio.gather(*(read(f"k{i}") for i in range(20)))
    finally:
        counter.cancel()
    assert got == list(range(20)) and len(table.queries) == 1
    per_turn = {t: woken_at.count(t) for t in set(woken_at)}
    assert max(per_turn.values()) <= 4 and len(per_turn) >= 5
