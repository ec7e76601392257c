"""vendor callbacks: one row per request sent with a callback URL, its payload once received (issue 15)

Revision ID: i15d
Revises: i15c
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i15d"
down_revision = "i15c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_callbacks",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_source_callbacks")),
    )


def downgrade() -> None:
    op.drop_table("source_callbacks")
