"""vendor calls, person leases, disabled sources (issue 15)

Revision ID: i15a
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i15a"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_calls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("search_key", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.Column("billed", sa.Boolean(), nullable=False),
        sa.Column("cost", sa.Float(), server_default="0", nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("latency_ms", sa.Integer(), server_default="0", nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("called_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_calls")),
    )
    with op.batch_alter_table("source_calls", schema=None) as batch_op:
        batch_op.create_index("ix_source_calls_source_called_at", ["source", "called_at"], unique=False)
        batch_op.create_index("ix_source_calls_search_key", ["search_key"], unique=False)
    op.create_table(
        "source_leases",
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("search_key", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "search_key", name=op.f("pk_source_leases")),
    )
    with op.batch_alter_table("source_health", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("disabled_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source_health", schema=None) as batch_op:
        batch_op.drop_column("disabled_reason")
        batch_op.drop_column("disabled_at")
    op.drop_table("source_leases")
    with op.batch_alter_table("source_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_source_calls_search_key")
        batch_op.drop_index("ix_source_calls_source_called_at")
    op.drop_table("source_calls")
