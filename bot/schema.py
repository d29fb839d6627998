"""Table definitions (SQLAlchemy Core). The Alembic migrations in bot/migrations are the source of truth for
the database; this module mirrors them (server defaults included) for queries and for creating a new database
at the head in one go, and tests/store/test_schema_parity.py checks that both build the same schema."""

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
    false,
    true,
)

metadata = MetaData()

# The newest migration in bot/migrations/versions (a test checks it is Alembic's head): a database at this
# revision needs no migration, so start-up does not import Alembic at all.
HEAD_REVISION = "0008"

# Alembic's own version table, as Alembic creates it (`DefaultImpl.version_table_impl`): a new database is
# created from `metadata` and stamped through it without importing Alembic (bot/store/base.py).
VERSION_TABLE = "alembic_version"
version_table = Table(
    VERSION_TABLE,
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
)

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
    Column("watch", Boolean, nullable=False, default=True, server_default=true()),
    Column("lease_owner", String(100)),
    Column("lease_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Watcher (0003): what the last poll knew (status, step, losses, back-off) and when the job is next due.
    Column("watch_state", JSON),
    Column("next_poll_at", DateTime(timezone=True)),
    Index("ix_jobs_watch_next", "watch", "next_poll_at"),
)

# Conversations following one job (0003): `stream` (events in the card's thread), `quiet` (terminal alert
# only) or `off` (unwatched; also silences the job's home conversation).
job_watchers = Table(
    "job_watchers",
    metadata,
    Column("job_id", String(64), nullable=False),
    Column("conversation_key", String(300), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("job_id", "conversation_key"),
)

# Conversations receiving the terminal alerts of every job of a resource (0003); `statuses` comma-separated.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("conversation_key", String(300), nullable=False),
    Column("resource", String(100), nullable=False),
    Column("statuses", String(64), nullable=False),
    Column("created_by", String(255)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("conversation_key", "resource"),
)

# Per-conversation watcher settings (0003): `quiet` sends only terminal alerts for jobs started there.
watch_prefs = Table(
    "watch_prefs",
    metadata,
    Column("conversation_key", String(300), primary_key=True),
    Column("quiet", Boolean, nullable=False, default=False, server_default=false()),
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
    Column("status", String(16), nullable=False, default="pending", server_default="pending"),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("lease_owner", String(100)),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    # 0003: not to be tried before this instant (a platform's 429 Retry-After, a thread not posted yet).
    Column("not_before", DateTime(timezone=True)),
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

# Deployment approvals (issue 11): one row per request; `state` moves pending -> approved | rejected | expired
# by compare-and-set, `deploy_state` follows the ARM deployment after approval (lease: who follows it now).
approvals = Table(
    "approvals",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("resource", String(100), nullable=False),
    Column("model", String(255), nullable=False),
    Column("job_id", String(64)),
    Column("checkpoint_step", Integer),
    Column("deployment", String(64), nullable=False),
    Column("sku", String(32), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("source", String(400)),
    Column("source_tenant", String(64)),
    Column("cross_tenant", Boolean, nullable=False, default=False, server_default=false()),
    Column("detail", JSON, nullable=False),
    Column("platform", String(16), nullable=False),
    Column("conversation_key", String(300), nullable=False),
    Column("requested_by", String(255), nullable=False),
    Column("requested_by_name", String(255)),
    Column("required_approvals", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
    Column("decided_by", String(255)),
    Column("decided_by_name", String(255)),
    Column("reason", Text),
    Column("deploy_state", String(16)),
    Column("operation_url", Text),
    Column("endpoint", String(400)),
    Column("error", Text),
    Column("lease_owner", String(100)),
    Column("lease_until", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_approvals_state", "state"),
    Index("ix_approvals_deploy_state", "deploy_state"),
    Index("ix_approvals_deployment", "resource", "deployment"),
)

# One row per distinct approver of a request (required_approvals > 1 counts these).
approval_votes = Table(
    "approval_votes",
    metadata,
    Column("approval_id", String(32), nullable=False),
    Column("approver", String(255), nullable=False),
    Column("approver_name", String(255)),
    Column("at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("approval_id", "approver"),
)

# Starts in flight (issue 8): written before anything is sent to Azure, completed with the job id after. The
# state is a compare-and-set machine: uploading -> sent -> created | unknown | failed (abandoned: gave up
# before the create; reconcile sweeps its files). `notice` is the outcome still to tell the conversation.
start_intents = Table(
    "start_intents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("resource", String(100), nullable=False),
    Column("state", String(16), nullable=False),
    Column("model", String(255), nullable=False),
    Column("request", JSON, nullable=False),
    Column("files", JSON, nullable=False),
    Column("training_file", String(64)),
    Column("job_id", String(64)),
    Column("outcome", String(32)),
    Column("platform", String(16), nullable=False),
    Column("conversation_key", String(300), nullable=False),
    Column("conversation", JSON, nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("user_name", String(255)),
    Column("notice", String(16)),
    Column("notice_attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("sent_at", DateTime(timezone=True)),
    Column("lease_owner", String(100)),
    Column("lease_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_start_intents_state", "state"),
)

# Azure files to delete that a first attempt could not (throttled, refused, Azure down): retried in the
# background until Azure confirms, so a failed cleanup never leaves files silently.
file_deletions = Table(
    "file_deletions",
    metadata,
    Column("resource", String(100), nullable=False),
    Column("file_id", String(64), nullable=False),
    Column("intent_id", String(32)),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("next_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("lease_owner", String(100)),
    Column("lease_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("resource", "file_id"),
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

# Idle guard (0008): fine-tuned deployments seen by the sweep, with what it worked out about them.
idle_deployments = Table(
    "idle_deployments",
    metadata,
    Column("resource", String(100), nullable=False),
    Column("deployment", String(64), nullable=False),
    Column("model", String(255), nullable=False),
    Column("sku", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("kept_alive_at", DateTime(timezone=True)),
    Column("deletes_at", DateTime(timezone=True), nullable=False),
    Column("snoozed_until", DateTime(timezone=True)),
    Column("conversation_key", String(300)),
    Column("gone_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("resource", "deployment"),
)

# Periodic work done by one replica at a time (the idle sweep): a named lease and when it last ran.
sweep_leases = Table(
    "sweep_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("lease_owner", String(100)),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_run_at", DateTime(timezone=True)),
)
