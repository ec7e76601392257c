"""per-account upstream budgets: the account's monthly limit, and the account of each vendor call (issue 15)

Revision ID: i15c
Revises: i15b
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i15c"
down_revision = "i15b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("upstream_budget_per_month", sa.Float(), nullable=True))
    with op.batch_alter_table("source_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_source_calls_account_called_at", ["account_id", "called_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("source_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_source_calls_account_called_at")
        batch_op.drop_column("account_id")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("upstream_budget_per_month")
