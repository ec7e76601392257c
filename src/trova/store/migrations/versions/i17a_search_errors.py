"""search_errors: one row per search that raised during resolution (issue 17)

Revision ID: i17a
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'i17a'
down_revision = "i16a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('search_errors',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('search_id', sa.String(length=36), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['search_id'], ['searches.id'], name=op.f('fk_search_errors_search_id_searches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_errors'))
    )
    with op.batch_alter_table('search_errors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_errors_search_id'), ['search_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('search_errors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_errors_search_id'))
    op.drop_table('search_errors')
