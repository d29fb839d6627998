"""The watcher's store: leases renewed and released per poll, a lost lease writes nothing, outbox rows held
back by `not_before`, subscriptions and watchers. Real SQLite file and real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bot.model import Conversation, MessageRef, User
from bot.schema import outbox
from bot.store import Queued, Store
from bot.store.base import utcnow

LEASE = timedelta(seconds=30)
HOME = Conversation(platform="slack", id="C1", reference={"channel": "C1"})


async def _watched(store: Store, *ids: str) -> None:
    for job_id in ids:
        await store.record_job(
            job_id, resource="default", home=HOME, user=User("U1"), model="m", status="pending"
        )


async def test_a_claimed_job_is_not_claimed_again_until_released(store: Store) -> None:
    await _watched(store, "ftjob-a", "ftjob-b")
    first = await store.claim_due_watches("r1", limit=10, lease=LEASE)
    assert {w.job.job_id for w in first} == {"ftjob-a", "ftjob-b"}
    assert await store.claim_due_watches("r2", limit=10, lease=LEASE) == []
    # Released with a next poll in the future: not due yet, for anyone.
    await store.reschedule_watches({utcnow() + timedelta(seconds=60): ["ftjob-a"]}, "r1")
    await store.release_watches(["ftjob-b"], "r1")
    again = await store.claim_due_watches("r2", limit=10, lease=LEASE)
    assert [w.job.job_id for w in again] == ["ftjob-b"]


async def test_an_expired_lease_moves_to_another_replica(store: Store) -> None:
    await _watched(store, "ftjob-a")
    await store.claim_due_watches("dead", limit=10, lease=timedelta(seconds=-1))
    taken = await store.claim_due_watches("alive", limit=10, lease=LEASE)
    assert [w.job.job_id for w in taken] == ["ftjob-a"]
    # The dead replica's late commit is refused and writes nothing.
    late = Queued("alert:ftjob-a:succeeded:slack:C1", "slack:C1", {"op": "post", "card": {"title": "x"}})
    ok = await store.commit_poll(
        "ftjob-a",
        "dead",
        queued=[late],
        state={},
        status="succeeded",
        cursor="e1",
        next_poll_at=None,
        done=True,
    )
    assert ok is False and await store.outbox_rows() == []
    ok = await store.commit_poll(
        "ftjob-a",
        "alive",
        queued=[late, late],
        state={"status": "succeeded"},
        status="succeeded",
        cursor="e1",
        next_poll_at=None,
        done=True,
    )
    assert ok is True and len(await store.outbox_rows()) == 1
    job = await store.get_job("ftjob-a")
    assert job is not None and not job.watch and job.events_cursor == "e1"
    assert await store.claim_due_watches("alive", limit=10, lease=LEASE) == []


async def test_outbox_rows_wait_for_not_before_and_keep_their_key(store: Store) -> None:
    await store.enqueue("k1", "slack:C1", {"op": "post"})
    (item,) = await store.claim_due_outbox("r1", limit=10, lease=LEASE)
    await store.defer_outbox(item.id, "r1", until=utcnow() + timedelta(seconds=60), error="ratelimited")
    assert await store.claim_due_outbox("r1", limit=10, lease=LEASE) == []
    await store.defer_outbox(item.id, "nobody", until=utcnow(), error="not mine")  # not the holder: no effect
    (row,) = await store.outbox_rows()
    assert row["attempts"] == 1 and row["last_error"] == "ratelimited"
    assert await store.enqueue("k1", "slack:C1", {"op": "post"}) is False


async def test_watchers_subscriptions_and_quiet_settings(store: Store) -> None:
    await store.follow_job("ftjob-x", resource="default", conversation_key="slack:C2", mode="quiet")
    await store.follow_job("ftjob-x", resource="default", conversation_key="slack:C3", mode="stream")
    await store.follow_job("ftjob-x", resource="default", conversation_key="slack:C3", mode="off")
    assert await store.watchers_of(["ftjob-x"]) == {"ftjob-x": {"slack:C2": "quiet", "slack:C3": "off"}}
    await store.subscribe("slack:C2", "default", {"failed", "cancelled"}, "U1")
    await store.subscribe("slack:C2", "default", {"succeeded"}, "U1")
    (sub,) = await store.subscriptions(resource="default")
    assert sub.statuses == frozenset({"succeeded"})
    assert await store.unsubscribe("slack:C2") == 1 and await store.subscriptions() == []
    await store.set_quiet("slack:C2", True)
    assert await store.quiet_conversations(["slack:C2", "slack:C3"]) == {"slack:C2"}
    assert await store.discover_jobs("default", [("ftjob-x", "m"), ("ftjob-new", "m")]) == 1
    assert await store.known_job_ids(["ftjob-new", "ftjob-none"]) == {"ftjob-new"}


async def test_a_send_is_recorded_before_it_starts_and_a_dead_senders_row_is_taken_over(store: Store) -> None:
    await store.enqueue(
        "alert:ftjob-a:succeeded:slack:C1", "slack:C1", {"op": "post", "card": {"title": "x"}}
    )
    (item,) = await store.claim_due_outbox("dead", limit=10, lease=LEASE)
    assert item.status == "pending" and item.send_started is None
    started = await store.mark_sending(item.id, "dead", lease=timedelta(seconds=-1))
    assert started is not None
    # The owner died between its send and `mark_sent`: once its lease has run out the row is claimable,
    # still `sending`, with the instant that send began (where a look-back for it starts).
    (again,) = await store.claim_due_outbox("alive", limit=10, lease=LEASE)
    assert again.status == "sending" and again.send_started == started
    assert await store.mark_sent(item.id, "dead") is False  # the dead owner's late record changes nothing
    assert await store.mark_sending(item.id, "dead", lease=LEASE) is None
    assert await store.mark_sent(again.id, "alive") is True
    assert [r["status"] for r in await store.outbox_rows()] == ["sent"]
    assert await store.claim_due_outbox("alive", limit=10, lease=LEASE) == []


async def test_a_send_without_an_answer_stays_sending_and_waits(store: Store) -> None:
    await store.enqueue("events:ftjob-a:1-4:slack:C1", "slack:C1", {"op": "thread", "card": {"title": "x"}})
    await store.enqueue("events:ftjob-b:1-4:slack:C1", "slack:C1", {"op": "thread", "card": {"title": "y"}})
    timed_out, refused = await store.claim_due_outbox("r1", limit=10, lease=LEASE)
    started = await store.mark_sending(timed_out.id, "r1", lease=LEASE)
    await store.mark_sending(refused.id, "r1", lease=LEASE)
    # A timeout: it may have been posted. It stays `sending` (the next attempt looks first) and waits.
    later = utcnow() + timedelta(seconds=60)
    await store.defer_outbox(timed_out.id, "r1", until=later, error="timeout", maybe_sent=True)
    # A refusal (Slack answered `ratelimited`): nothing was posted, plain pending again.
    await store.defer_outbox(refused.id, "r1", until=utcnow() - timedelta(seconds=1), error="ratelimited")
    (retry,) = await store.claim_due_outbox("r2", limit=10, lease=LEASE)
    assert retry.id == refused.id and retry.status == "pending"
    row = next(r for r in await store.outbox_rows() if r["id"] == timed_out.id)
    assert row["status"] == "sending" and row["lease_owner"] is None and row["attempts"] == 1
    # Once its wait is over, it comes back as `sending`, still dated from the send that may have gone out.
    async with store.engine.begin() as conn:
        await conn.execute(update(outbox).where(outbox.c.id == timed_out.id).values(lease_until=utcnow()))
    (back,) = await store.claim_due_outbox("r3", limit=10, lease=LEASE)
    assert back.id == timed_out.id and back.status == "sending" and back.send_started == started


async def test_a_card_version_moves_forward_only_and_with_its_message(store: Store) -> None:
    """`find_card` tells as of when a card's content is true; `card_shown` (an update in place) moves that
    forward, never back, and not once another message holds the card; posting the card anew resets it."""
    key, conv = "job:ftjob-v", "slack:C1"
    before = utcnow()
    await store.remember_message(key, conv, MessageRef("slack", "C1", "1.1"))
    found = await store.find_card(key, conv)
    assert found is not None
    ref, posted_at = found
    assert ref.message_id == "1.1" and posted_at >= before

    later = posted_at + timedelta(seconds=5)
    await store.card_shown(key, conv, "1.1", later)
    assert (await store.find_card(key, conv)) == (ref, later)
    await store.card_shown(key, conv, "1.1", posted_at)  # an older one: no change
    assert (await store.find_card(key, conv)) == (ref, later)
    await store.card_shown(key, conv, "9.9", later + timedelta(seconds=5))  # not the card's message
    assert (await store.find_card(key, conv)) == (ref, later)

    # An outbox row's own time and its update's version, committed with the row.
    assert await store.enqueue("card:ftjob-v:running:5:slack:C1", conv, {"op": "update", "card": {}})
    (row,) = await store.claim_due_outbox("r1", limit=10, lease=LEASE)
    assert row.created_at is not None and row.created_at >= before
    newest = later + timedelta(seconds=5)
    assert await store.mark_sent(row.id, "r1", shown=(key, conv, "1.1", newest))
    assert (await store.find_card(key, conv)) == (ref, newest)
