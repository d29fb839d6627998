"""Approval requests in the store: one decision wins, votes are distinct, expiry races lose, leases hand over.
Run against a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.model import User
from bot.store import NewApproval, Store

ADA = User(id="U1", name="Ada")
GRACE = User(id="U2", name="Grace")
LINUS = User(id="U3", name="Linus")


def new(ttl: float = 3600, required: int = 1) -> NewApproval:
    return NewApproval(
        resource="default",
        model="gpt-4o-mini-2024-07-18.ft-abc",
        deployment="dep-1",
        sku="Standard",
        capacity=1,
        platform="slack",
        conversation_key="slack:C1",
        requester=ADA,
        required_approvals=required,
        ttl=timedelta(seconds=ttl),
        job_id="ftjob-abc",
        detail={"valid_loss": 0.4},
    )


async def test_one_of_many_concurrent_approvals_wins(store: Store) -> None:
    a = await store.create_approval(new(), "a00000000001")
    assert a.state == "pending" and a.detail == {"valid_loss": 0.4}
    results = await asyncio.gather(
        *(store.decide(a.id, "approved", by=GRACE, lease_owner=f"r{i % 2}") for i in range(20))
    )
    assert sorted(results) == [False] * 19 + [True]
    got = await store.get_approval(a.id)
    assert got is not None and got.state == "approved" and got.deploy_state == "putting"
    assert got.decided_by == "U2" and got.decider == "Grace"
    assert await store.decide(a.id, "rejected", by=LINUS) is False


async def test_a_click_racing_the_expiry_loses(store: Store) -> None:
    a = await store.create_approval(new(ttl=0.05), "a00000000002")
    await asyncio.sleep(0.1)
    assert await store.decide(a.id, "approved", by=GRACE) is False
    assert await store.due_for_expiry() == [a.id]
    assert await store.decide(a.id, "expired") is True
    assert await store.due_for_expiry() == []
    got = await store.get_approval(a.id)
    assert got is not None and got.state == "expired"


async def test_votes_are_distinct_and_only_while_pending(store: Store) -> None:
    a = await store.create_approval(new(required=2), "a00000000003")
    assert await store.add_vote(a.id, GRACE) == 1
    assert await store.add_vote(a.id, GRACE) == 1  # a double click is one vote
    assert await store.add_vote(a.id, LINUS) == 2
    assert [v[0] for v in await store.votes(a.id)] == ["U2", "U3"]
    assert await store.decide(a.id, "rejected", by=LINUS, reason="no") is True
    assert await store.add_vote(a.id, ADA) == 2  # decided: no more votes


async def test_the_follow_up_lease_hands_over_only_when_it_ran_out(store: Store) -> None:
    a = await store.create_approval(new(), "a00000000004")
    assert await store.decide(a.id, "approved", by=GRACE, lease_owner="r1", lease=timedelta(seconds=0.2))
    assert await store.claim_deploys("r2", limit=5, lease=timedelta(seconds=5)) == []
    await asyncio.sleep(0.3)
    claimed = await store.claim_deploys("r2", limit=5, lease=timedelta(seconds=5))
    assert [c.id for c in claimed] == [a.id]
    # The old owner lost it: its write does nothing; the new owner's lands.
    assert await store.set_deploy_state(a.id, "failed", owner="r1", error="late") is False
    assert await store.set_deploy_state(a.id, "succeeded", owner="r2") is True
    got = await store.get_approval(a.id)
    assert got is not None and got.deploy_state == "succeeded" and got.error is None
    assert await store.claim_deploys("r3", limit=5, lease=timedelta(seconds=5)) == []
    assert (await store.approvals_of("default"))["dep-1"].id == a.id


async def test_open_requests_hold_their_name_and_model(store: Store) -> None:
    a = await store.create_approval(new(), "a00000000005")
    assert [o.id for o in await store.open_approvals("default")] == [a.id]
    await store.decide(a.id, "rejected", by=GRACE)
    assert await store.open_approvals("default") == []
