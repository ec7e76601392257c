"""readiness_probes: the row GET /readyz rewrites to prove the database takes writes (issue 17)

Revision ID: i17b
Revises: i17a
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i17b"
down_revision = "i17a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "readiness_probes",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("probed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_readiness_probes")),
    )


def downgrade() -> None:
    op.drop_table("readiness_probes")
