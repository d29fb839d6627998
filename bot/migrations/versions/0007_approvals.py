"""Deployment approvals: requests (compare-and-set state, deployment follow-up with a lease) and votes.

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("resource", sa.String(100), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("job_id", sa.String(64)),
        sa.Column("checkpoint_step", sa.Integer),
        sa.Column("deployment", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(32), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("source", sa.String(400)),
        sa.Column("source_tenant", sa.String(64)),
        sa.Column("cross_tenant", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("conversation_key", sa.String(300), nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("requested_by_name", sa.String(255)),
        sa.Column("required_approvals", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("decided_at", TS),
        sa.Column("decided_by", sa.String(255)),
        sa.Column("decided_by_name", sa.String(255)),
        sa.Column("reason", sa.Text),
        sa.Column("deploy_state", sa.String(16)),
        sa.Column("operation_url", sa.Text),
        sa.Column("endpoint", sa.String(400)),
        sa.Column("error", sa.Text),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_until", TS),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_approvals_state", "approvals", ["state"])
    op.create_index("ix_approvals_deploy_state", "approvals", ["deploy_state"])
    op.create_index("ix_approvals_deployment", "approvals", ["resource", "deployment"])
    op.create_table(
        "approval_votes",
        sa.Column("approval_id", sa.String(32), nullable=False),
        sa.Column("approver", sa.String(255), nullable=False),
        sa.Column("approver_name", sa.String(255)),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("approval_id", "approver"),
    )


def downgrade() -> None:
    op.drop_table("approval_votes")
    for index in ("ix_approvals_deployment", "ix_approvals_deploy_state", "ix_approvals_state"):
        op.drop_index(index, table_name="approvals")
    op.drop_table("approvals")
