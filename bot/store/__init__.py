"""Persistent state: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) when several replicas share work.

One module per family of tables, each a mixin over `StoreBase` (engine, migrations, write transactions,
leases); `Store` composes them, so callers see one object. A new family (intents, subscriptions, approvals,
idle warnings) arrives as its own module and one more base here. The rows the families hand out are in
`bot.store.rows`, imported from here and made when first asked for: start-up needs only the queries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.store.approvals import ApprovalStore
from bot.store.audit import AuditStore
from bot.store.base import StoreBase
from bot.store.charts import ChartStore
from bot.store.conversations import ConversationStore
from bot.store.health import HealthStore
from bot.store.idle import IdleStore
from bot.store.inbound import InboundStore
from bot.store.intents import IntentStore
from bot.store.jobs import JobStore
from bot.store.outbox import OutboxStore
from bot.store.watch import WatchStore

if TYPE_CHECKING:
    from bot.store.rows import (
        Approval,
        AuditEntry,
        IdleRow,
        IntentFile,
        NewApproval,
        OutboxItem,
        PendingDeletion,
        Queued,
        StoredConversation,
        StoredIntent,
        StoredJob,
        Subscription,
        WatchedJob,
    )

# The row types live in `bot.store.rows`, made when first asked for (PEP 562): start-up needs only the queries.
_ROWS = frozenset(
    {
        "Approval",
        "AuditEntry",
        "IdleRow",
        "IntentFile",
        "NewApproval",
        "OutboxItem",
        "PendingDeletion",
        "Queued",
        "StoredConversation",
        "StoredIntent",
        "StoredJob",
        "Subscription",
        "WatchedJob",
    }
)

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


def __getattr__(name: str) -> Any:
    """A row type, imported from `bot.store.rows` the first time it is asked for (PEP 562)."""
    if name not in _ROWS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from bot.store import rows

    value = getattr(rows, name)
    globals()[name] = value  # later lookups find it directly
    return value
