"""person_names_first: people by first name alone, for the finder's check that a searched short form
is in use as a given name at the company (issue 13, docs/finder.md §2.7)

Revision ID: i13c
Revises: i15d
"""

from __future__ import annotations

from alembic import op

revision = "i13c"
down_revision = "i15d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_person_names_first", "person_names", ["first_key", "person_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_person_names_first", table_name="person_names")
