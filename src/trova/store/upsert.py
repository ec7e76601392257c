"""``INSERT … ON CONFLICT DO NOTHING`` for both dialects, the one place that picks the construct."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def insert_ignore(conn: Connection | sa.Dialect, table: sa.Table) -> sa.Insert:
    """An insert into ``table`` that skips rows conflicting with any unique constraint, for the
    dialect of ``conn`` (or the dialect itself, to compile it ahead of any connection).

    Add ``.returning(...)`` to learn which rows were really inserted (both SQLite ≥ 3.35 and
    PostgreSQL return only those).
    """
    dialect = conn if isinstance(conn, sa.Dialect) else conn.dialect
    if dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
