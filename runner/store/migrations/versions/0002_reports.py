"""The reports table: pending reports on the forge, retried by `optirunner serve`.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `reports` (one row per job whose report was refused) and its due index."""
    op.create_table(
        "reports",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("home", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("owner", sa.String(64)),
        sa.Column("lease_expires", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_reports_state_due", "reports", ["state", "due_at"])


def downgrade() -> None:
    """Drop `reports`."""
    op.drop_table("reports")
