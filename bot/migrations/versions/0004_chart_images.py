"""Chart pictures served to Teams by an unguessable, expiring URL.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "chart_images",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("png", sa.LargeBinary, nullable=False),
        sa.Column("job_id", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_index("ix_chart_images_expires_at", "chart_images", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_chart_images_expires_at", table_name="chart_images")
    op.drop_table("chart_images")
