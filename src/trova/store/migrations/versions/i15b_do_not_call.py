"""do-not-call flags on phone observations and on search results (issue 15)

Revision ID: i15b
Revises: i17a
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i15b"
down_revision = "i17a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("phone_observations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("do_not_call", sa.Boolean(), nullable=True))
    with op.batch_alter_table("searches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("do_not_call", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("searches", schema=None) as batch_op:
        batch_op.drop_column("do_not_call")
    with op.batch_alter_table("phone_observations", schema=None) as batch_op:
        batch_op.drop_column("do_not_call")
