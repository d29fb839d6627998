"""Start intents (a start recorded before anything is sent to Azure) and file deletions still to retry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "start_intents",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("resource", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("training_file", sa.String(64)),
        sa.Column("job_id", sa.String(64)),
        sa.Column("outcome", sa.String(32)),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("conversation_key", sa.String(300), nullable=False),
        sa.Column("conversation", sa.JSON, nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("user_name", sa.String(255)),
        sa.Column("notice", sa.String(16)),
        sa.Column("notice_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sent_at", TS),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_until", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_start_intents_state", "start_intents", ["state"])
    op.create_table(
        "file_deletions",
        sa.Column("resource", sa.String(100), nullable=False),
        sa.Column("file_id", sa.String(64), nullable=False),
        sa.Column("intent_id", sa.String(32)),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", TS, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_until", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("resource", "file_id"),
    )


def downgrade() -> None:
    op.drop_table("file_deletions")
    op.drop_index("ix_start_intents_state", table_name="start_intents")
    op.drop_table("start_intents")
