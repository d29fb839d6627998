"""Over capacity the bot says "busy" at once instead of queueing without bound; a burst writes little.

The real Slack adapter and a real SQLite store; capacity is made small so a handful of requests reach it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select

from adapters.inflight import BUSY
from bot.schema import card_messages, seen_events
from bot.store import Store
from cards.payload import pack_slack
from tests.slack import payloads
from tests.slack.conftest import SlackHarness
from tests.slack.signing import form_body


async def eventually(condition: Any, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 (state of the adapter and store, no event to wait on)
            await asyncio.sleep(0.005)


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """Every SQL statement the store runs meanwhile (reads and, on SQLite, the write connection's too)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engines = {id(e.sync_engine): e.sync_engine for e in (store.engine, store.write_engine)}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def rows(store: Store, table: Any) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_over_capacity_a_command_is_answered_busy_in_its_ack(harness: SlackHarness) -> None:
    harness.adapter._inflight.limit = 2
    for i in range(2):  # two commands whose handlers wait on a gate: the adapter is at its capacity
        resp = await harness.command("slow", response_url=harness.slack.response_url(f"slow{i}"))
        assert resp.status == 200 and await resp.text() == ""
    await eventually(lambda: len(harness.handled.commands) == 2)

    resp = await harness.command("status ftjob-busy")

    assert resp.status == 200
    assert json.loads(await resp.text()) == {"text": BUSY, "response_type": "ephemeral"}
    harness.handled.gate.set()
    await harness.adapter.drain()
    assert [c.verb for c in harness.handled.commands] == ["slow", "slow"]  # the busy one never ran
    assert harness.adapter._inflight.refused == 1
    # Capacity back: the same command is taken again.
    resp = await harness.command("status ftjob-later")
    assert await resp.text() == ""
    await harness.adapter.drain()
    assert harness.handled.commands[-1].args == ("ftjob-later",)


async def test_over_capacity_a_click_gets_a_busy_notice_through_its_response_url(
    harness: SlackHarness,
) -> None:
    harness.adapter._inflight.limit = 1
    await harness.command("slow")
    await eventually(lambda: len(harness.handled.commands) == 1)

    packed = pack_slack("job.refresh", {"job": "ftjob-abc"})
    resp = await harness.click(packed.action_id, packed.value, message_ts="1700000000.000100")

    assert resp.status == 200
    (notice,) = await harness.slack.wait_for("response_url")
    assert notice.args["text"] == BUSY
    assert notice.args["response_type"] == "ephemeral" and notice.args["replace_original"] is False
    assert harness.handled.actions == []
    harness.handled.gate.set()


async def test_a_backed_up_write_queue_answers_busy_and_stays_bounded(harness: SlackHarness) -> None:
    store = harness.store
    store.batch.limit = 4  # "backed up" from 2 queued writes
    assert store._write_lock is not None
    await store._write_lock.acquire()  # the database stops taking writes, as under a burst it cannot drain
    try:
        for i in range(2):
            resp = await harness.command(
                f"status ftjob-{i}", response_url=harness.slack.response_url(f"r{i}")
            )
            assert await resp.text() == ""
        await eventually(lambda: store.batch.backlog >= 2)

        refused = []
        for i in range(2, 20):
            resp = await harness.command(
                f"status ftjob-{i}", response_url=harness.slack.response_url(f"r{i}")
            )
            refused.append(json.loads(await resp.text() or "{}").get("text"))
        assert refused == [BUSY] * 18
        assert store.batch.max_backlog <= store.batch.limit
    finally:
        store._write_lock.release()
    await harness.adapter.drain()
    # The two taken commands were answered and their writes committed, once the database took writes again.
    assert len(harness.slack.called("chat.postMessage")) == 2
    assert await rows(store, card_messages) == 2


async def test_a_burst_in_one_conversation_writes_it_once_and_shares_commits(harness: SlackHarness) -> None:
    n = 30
    with statements(harness.store) as sql:
        answers = await asyncio.gather(
            *(
                harness.command(f"status ftjob-{i:03}", response_url=harness.slack.response_url(f"b{i}"))
                for i in range(n)
            )
        )
        assert all(a.status == 200 for a in answers)
        await harness.slack.wait_for("chat.postMessage", n)
        await harness.adapter.drain()

    conversation_writes = [s for s in sql if s.startswith("INSERT INTO conversations")]
    assert len(conversation_writes) == 1, f"{len(conversation_writes)} conversation writes for {n} commands"
    # Every signature and every card reference is recorded, in far fewer statements than one per write.
    assert await rows(harness.store, seen_events) == n
    assert await rows(harness.store, card_messages) == n
    inserts = [s for s in sql if s.startswith("INSERT")]
    assert len(inserts) < n, f"{len(inserts)} INSERT statements for {2 * n} writes"
    ref = await harness.store.find_message("job:ftjob-007", f"slack:{payloads.CHANNEL}")
    assert ref is not None


async def test_over_capacity_a_badly_signed_command_is_still_refused(harness: SlackHarness) -> None:
    harness.adapter._inflight.limit = 0  # always over capacity: the busy answer comes before Bolt
    body, content_type = form_body(payloads.slash_command("status ftjob-abc"))
    resp = await harness.send(body, content_type, secret="not-the-signing-secret")
    assert resp.status == 401
    resp = await harness.command("status ftjob-abc")
    assert json.loads(await resp.text()) == {"text": BUSY, "response_type": "ephemeral"}
    assert harness.handled.commands == []


async def test_work_in_flight_does_not_keep_bolts_request_alive(harness: SlackHarness) -> None:
    # Bolt's request carries its whole per-request context (a Web API client, ack, say, respond...); work
    # holding it kept thousands of objects per burst in the collector's older generations (bench/ack.py).
    import gc
    import weakref

    from slack_bolt.request.async_request import AsyncBoltRequest

    requests: list[weakref.ref[AsyncBoltRequest]] = []
    original = harness.adapter.bolt.async_dispatch

    async def dispatch(req: AsyncBoltRequest) -> Any:
        requests.append(weakref.ref(req))
        return await original(req)

    harness.adapter.bolt.async_dispatch = dispatch  # type: ignore[method-assign]
    resp = await harness.command("slow")
    assert resp.status == 200
    await asyncio.wait_for(harness.handled.gate_reached.wait(), 5)
    gc.collect()
    assert len(requests) == 1 and requests[0]() is None  # the command is still in flight; its request is gone
    harness.handled.gate.set()
    await harness.adapter.drain()
    assert len(harness.slack.messages()) == 1
