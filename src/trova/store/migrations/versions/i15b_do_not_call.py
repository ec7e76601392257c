"""do-not-call flags on phone observations and search results; the search country of vendor calls (issue 15)

Revision ID: i15b
Revises: i13b
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i15b"
down_revision = "i13b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("phone_observations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("do_not_call", sa.Boolean(), nullable=True))
    with op.batch_alter_table("searches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("do_not_call", sa.Boolean(), nullable=True))
    with op.batch_alter_table("source_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_country", sa.String(length=2), nullable=True))
        batch_op.create_index(
            "ix_source_calls_source_search_country", ["source", "search_country"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("source_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_source_calls_source_search_country")
        batch_op.drop_column("search_country")
    with op.batch_alter_table("searches", schema=None) as batch_op:
        batch_op.drop_column("do_not_call")
    with op.batch_alter_table("phone_observations", schema=None) as batch_op:
        batch_op.drop_column("do_not_call")
