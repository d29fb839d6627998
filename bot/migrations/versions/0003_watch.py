"""Watchers: per-conversation watches and subscriptions, watcher state on jobs, deferred outbox rows.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "job_watchers",
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("conversation_key", sa.String(300), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("job_id", "conversation_key"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("conversation_key", sa.String(300), nullable=False),
        sa.Column("resource", sa.String(100), nullable=False),
        sa.Column("statuses", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(255)),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("conversation_key", "resource"),
    )
    op.create_table(
        "watch_prefs",
        sa.Column("conversation_key", sa.String(300), primary_key=True),
        sa.Column("quiet", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("updated_at", TS, nullable=False),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("watch_state", sa.JSON))
        batch.add_column(sa.Column("next_poll_at", TS))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("not_before", TS))
    op.create_index("ix_jobs_watch_next", "jobs", ["watch", "next_poll_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_watch_next", table_name="jobs")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("not_before")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("next_poll_at")
        batch.drop_column("watch_state")
    for table in ("watch_prefs", "subscriptions", "job_watchers"):
        op.drop_table(table)
