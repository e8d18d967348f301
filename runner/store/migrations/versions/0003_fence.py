"""The jobs' fencing token (claims, never counted back) and run number (+1 per replay).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `jobs.fence` (0: no existing job holds a token yet) and `jobs.run` (1)."""
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("fence", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("run", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    """Drop `jobs.fence` and `jobs.run`."""
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("run")
        batch.drop_column("fence")
