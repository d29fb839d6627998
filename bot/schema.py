"""Table definitions (SQLAlchemy Core). The Alembic migrations in bot/migrations are the source of truth for
the database; this module mirrors them for queries, and a test checks the two agree."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Every conversation the bot has been addressed in, with the platform reference for proactive sends.
conversations = Table(
    "conversations",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("platform", String(16), nullable=False),
    Column("conversation_id", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("team", String(255)),
    Column("reference", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Jobs started or watched from chat: their home conversation and the watcher's cursor and lease.
jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("resource", String(100), nullable=False),
    Column("home_conversation", String(300)),
    Column("requested_by", String(255)),
    Column("requested_by_name", String(255)),
    Column("model", String(255)),
    Column("status", String(32)),
    Column("events_cursor", String(64)),
    Column("watch", Boolean, nullable=False, default=True),
    Column("lease_owner", String(100)),
    Column("lease_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Where a keyed card (e.g. `job:ftjob-...`) was posted in each conversation, to update it in place.
card_messages = Table(
    "card_messages",
    metadata,
    Column("card_key", String(200), nullable=False),
    Column("conversation_key", String(300), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("message_id", String(255), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("card_key", "conversation_key"),
)

# Inbound deliveries already handled (Slack Events API retries, Teams redeliveries).
seen_events = Table(
    "seen_events",
    metadata,
    Column("source", String(32), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("source", "event_id"),
)

# Notifications to send exactly once: the dedupe key is (thing, event/status, conversation).
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(400), nullable=False, unique=True),
    Column("conversation_key", String(300), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(100)),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Index("ix_outbox_status_id", "status", "id"),
)

# Who did what, when: every state-changing command and button press.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("actor_name", String(255)),
    Column("action", String(64), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("detail", JSON, nullable=False),
    Index("ix_audit_subject", "subject"),
)


# Chart pictures served to Teams at `/charts/<token>.png` (unguessable token), until they expire. In the
# database so that any replica can serve them.
chart_images = Table(
    "chart_images",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("png", LargeBinary, nullable=False),
    Column("job_id", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_chart_images_expires_at", "expires_at"),
)
