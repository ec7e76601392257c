"""audit_subject_keys: the audit's subject links keyed by the digest's 32 bytes, one b-tree on SQLite;
the unused index on audit_events.search_id dropped (issue 18)

Each job step inserts a link per subject of every number it reveals, at keys spread over the whole
table. Before this revision a link cost three b-trees on SQLite (the rowid table, its primary key
and the digest index), each holding the digest as 64 hex characters; the table grew by about
240 bytes a link and each job dirtied more of it as it grew. The links are copied, digests
converted from hex to bytes, so nothing is lost and the downgrade restores them exactly.

Revision ID: i18a
Revises: i13c
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i18a"
down_revision = "i13c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_audit_events_search_id", table_name="audit_events")
    _retire("audit_subjects", "ix_audit_subjects_key_hash", "pk_audit_subjects")
    op.create_table(
        "audit_subjects",
        sa.Column("subject_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        _to_their_event(),
        sa.PrimaryKeyConstraint("subject_key", "audit_id", name=op.f("pk_audit_subjects")),
        sqlite_with_rowid=False,
    )
    _copy_links(to_bytes=True)
    op.drop_table("audit_subjects_old")
    op.create_index("ix_audit_subjects_audit_id", "audit_subjects", ["audit_id"], unique=False)


def downgrade() -> None:
    _retire("audit_subjects", "ix_audit_subjects_audit_id", "pk_audit_subjects")
    op.create_table(
        "audit_subjects",
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        _to_their_event(),
        sa.PrimaryKeyConstraint("audit_id", "key_hash", name=op.f("pk_audit_subjects")),
    )
    _copy_links(to_bytes=False)
    op.drop_table("audit_subjects_old")
    op.create_index("ix_audit_subjects_key_hash", "audit_subjects", ["key_hash"], unique=False)
    op.create_index("ix_audit_events_search_id", "audit_events", ["search_id"], unique=False)


def _to_their_event() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["audit_id"],
        ["audit_events.id"],
        name=op.f("fk_audit_subjects_audit_id_audit_events"),
        ondelete="CASCADE",
    )


def _retire(table: str, index: str, primary_key: str) -> None:
    """Rename ``table`` to ``<table>_old`` and free the names its replacement takes."""
    op.drop_index(index, table_name=table)
    op.rename_table(table, f"{table}_old")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'ALTER TABLE "{table}_old" RENAME CONSTRAINT "{primary_key}" TO "{primary_key}_old"')


def _copy_links(*, to_bytes: bool) -> None:
    """Every link of the retired table into the new one, its digest converted, in one statement."""
    conn = op.get_bind()
    postgres = conn.dialect.name == "postgresql"
    if to_bytes:
        if not postgres:
            conn.connection.driver_connection.create_function(  # type: ignore[union-attr]
                "trova_unhex", 1, bytes.fromhex, deterministic=True
            )
        key = "decode(key_hash, 'hex')" if postgres else "trova_unhex(key_hash)"
        op.execute(
            f"INSERT INTO audit_subjects (subject_key, audit_id)"
            f" SELECT {key}, audit_id FROM audit_subjects_old"
        )
    else:
        digest = "encode(subject_key, 'hex')" if postgres else "lower(hex(subject_key))"
        op.execute(
            f"INSERT INTO audit_subjects (audit_id, key_hash)"
            f" SELECT audit_id, {digest} FROM audit_subjects_old"
        )
