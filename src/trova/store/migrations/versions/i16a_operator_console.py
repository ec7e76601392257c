"""web app: operator tokens (hashed), the audit of operator actions, opt-out requests

Revision ID: i16a
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i16a"
down_revision = "i15a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operator_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_operator_tokens_token_hash")),
    )
    op.create_table(
        "operator_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"], ["operator_tokens.id"], name=op.f("fk_operator_actions_token_id_operator_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_actions")),
    )
    op.create_index(op.f("ix_operator_actions_created_at"), "operator_actions", ["created_at"], unique=False)
    op.create_table(
        "optout_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optout_requests")),
    )
    op.create_index("ix_optout_requests_status", "optout_requests", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_optout_requests_status", table_name="optout_requests")
    op.drop_table("optout_requests")
    op.drop_index(op.f("ix_operator_actions_created_at"), table_name="operator_actions")
    op.drop_table("operator_actions")
    op.drop_table("operator_tokens")
