"""Persistent state: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) when several replicas share work.

One module per family of tables, each a mixin over `StoreBase` (engine, migrations, write transactions,
leases); `Store` composes them, so callers see one object. A new family (intents, subscriptions, approvals,
idle warnings) arrives as its own module and one more base here.
"""

from __future__ import annotations

from bot.store.approvals import Approval, ApprovalStore, NewApproval
from bot.store.audit import AuditEntry, AuditStore
from bot.store.base import StoreBase
from bot.store.charts import ChartStore
from bot.store.conversations import ConversationStore, StoredConversation
from bot.store.health import HealthStore
from bot.store.idle import IdleRow, IdleStore
from bot.store.inbound import InboundStore
from bot.store.intents import IntentFile, IntentStore, PendingDeletion, StoredIntent
from bot.store.jobs import JobStore, StoredJob
from bot.store.outbox import OutboxItem, OutboxStore
from bot.store.watch import Queued, Subscription, WatchedJob, WatchStore

__all__ = [
    "Approval",
    "AuditEntry",
    "IdleRow",
    "IntentFile",
    "NewApproval",
    "OutboxItem",
    "PendingDeletion",
    "Queued",
    "Store",
    "StoreBase",
    "StoredConversation",
    "StoredIntent",
    "StoredJob",
    "Subscription",
    "WatchedJob",
]


class Store(
    ConversationStore,
    InboundStore,
    JobStore,
    OutboxStore,
    AuditStore,
    ApprovalStore,
    WatchStore,
    HealthStore,
    IntentStore,
    ChartStore,
    IdleStore,
):
    """All reads and writes of the bot's state. Create with `Store.open(url)`, then `await upgrade()`."""
