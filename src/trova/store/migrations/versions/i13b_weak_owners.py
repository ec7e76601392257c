"""people.owner_id / people.ambiguous: the owner of each weak group (issue 13)

Existing profileless people are given their owners from the current data by
``trova.contacts.owners.refresh_all`` (docs/finder.md §2.6); merges made by earlier versions stay.

Revision ID: i13b
Revises: i17b
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i13b"
down_revision = "i17b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("ambiguous", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch_op.create_index("ix_people_owner", ["owner_id"], unique=False)
    from trova.contacts.owners import refresh_all

    refresh_all(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index("ix_people_owner")
        batch_op.drop_column("ambiguous")
        batch_op.drop_column("owner_id")
