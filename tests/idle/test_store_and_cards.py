"""The idle guard's store (SQLite and PostgreSQL): one replica holds the sweep, a sweep's commit queues each
message once; its cards pass the platforms' validators; the emulator's Monitor returns `top` series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.store import IdleRow, Queued, Store
from cards.idle import IdleView, deleted_card, idle_list_card, warning_card
from cards.render_slack import render_blocks
from cards.render_teams import render_adaptive
from emulator.api_monitor import query
from emulator.config import AccountConfig
from emulator.state import AccountState
from tests.cards.validate import assert_valid_adaptive, assert_valid_blocks

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
MODEL = "gpt-4o-mini-2024-07-18.ft-0123abcd"


async def test_one_replica_holds_the_sweep(store: Store) -> None:
    lease, every = timedelta(seconds=60), timedelta(seconds=1)
    assert await store.claim_sweep("idle-sweep", "a", lease=lease, every=every)
    assert not await store.claim_sweep("idle-sweep", "b", lease=lease, every=every)
    await store.finish_sweep("idle-sweep", "a")
    # Just ran: nobody sweeps again before the interval is (nearly) over.
    assert not await store.claim_sweep("idle-sweep", "b", lease=lease, every=timedelta(hours=6))


async def test_sweep_commit_queues_each_message_once(store: Store) -> None:
    row = IdleRow("default", "dep-a", MODEL, "Standard", T0, T0 + timedelta(days=15))
    queued = [Queued("idle:default:dep-a:x:3d", "slack:C1", {"op": "post", "card": {"title": "t"}})]
    assert await store.commit_idle_sweep("default", [row], [], queued) == 1
    assert await store.commit_idle_sweep("default", [row], [], queued) == 0
    assert len(await store.outbox_rows()) == 1
    kept = T0 + timedelta(days=2)
    assert await store.set_idle_fields("default", "dep-a", kept_alive_at=kept)
    await store.commit_idle_sweep("default", [row], [], [])  # a sweep does not undo a keep-alive
    got = await store.idle_row("default", "dep-a")
    assert got is not None and got.kept_alive_at == kept and got.gone_at is None
    await store.commit_idle_sweep("default", [], ["dep-a"], [])
    got = await store.idle_row("default", "dep-a")
    assert got is not None and got.gone_at is not None


def test_cards_render_valid_on_both_platforms() -> None:
    view = IdleView(
        "default", "dep-a", MODEL, "Standard", T0, None, T0 + timedelta(days=15), T0 + timedelta(days=12), 1.7
    )
    dev = IdleView("default", "dev-a", MODEL, "DeveloperTier", T0, None, T0 + timedelta(hours=24), T0, 0.0)
    cards = [
        warning_card(view, snooze_days=1),
        warning_card(dev, snooze_days=1),
        deleted_card("default", "dep-a", MODEL, "Standard", developer=False),
        idle_list_card(None, [view, dev]),
        idle_list_card("default", []),
    ]
    for card in cards:
        assert_valid_blocks(render_blocks(card))
        assert_valid_adaptive(render_adaptive(card))
    facts = dict((f.label, f.value) for f in cards[0].facts)
    assert facts["Cost while idle"] == "489.60 USD"  # 12 days x 24 h x 1.70
    assert "in 3 days" in facts["Deleted by Azure"]


def test_emulator_monitor_returns_top_series_like_azure() -> None:
    account = AccountState(AccountConfig())
    now = T0.timestamp() + 86400
    account.calls = [(T0.timestamp() + i, f"dep-{i:02d}") for i in range(15)]
    params = {
        "metricnames": "AzureOpenAIRequests",
        "timespan": "P2D",
        "interval": "P1D",
        "aggregation": "Total",
        "$filter": "ModelDeploymentName eq '*'",
    }
    default = query(account, params, now)["value"][0]["timeseries"]
    assert len(default) == 10  # Azure's default `top`
    every = query(account, {**params, "top": "100"}, now)["value"][0]["timeseries"]
    assert len(every) == 15
    assert sum(p["total"] for s in every for p in s["data"]) == 15
