"""Idle deployment guard: deployments seen by the sweep, and the sweep's lease.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "idle_deployments",
        sa.Column("resource", sa.String(100), nullable=False),
        sa.Column("deployment", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS),
        sa.Column("kept_alive_at", TS),
        sa.Column("deletes_at", TS, nullable=False),
        sa.Column("snoozed_until", TS),
        sa.Column("conversation_key", sa.String(300)),
        sa.Column("gone_at", TS),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("resource", "deployment"),
    )
    op.create_table(
        "sweep_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_until", TS),
        sa.Column("last_run_at", TS),
    )


def downgrade() -> None:
    op.drop_table("sweep_leases")
    op.drop_table("idle_deployments")
