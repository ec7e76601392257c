"""The account-facing reads of batches and searches: the listing of an account's batches, one search
by its id, and a finished batch's results page by page (for ``GET /phone/bulk/export``).

The tables are those of :mod:`trova.batches.repository`, which shares its row readers; every
statement here is plain SQLAlchemy Core, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.batches.models import Batch, BatchKind, SearchRow
from trova.batches.repository import RESULT_COLUMNS, batch_of_row, search_row
from trova.store.tables import batches, searches


def search_of_account(conn: Connection, search_id: str, account_id: int) -> SearchRow | None:
    """One search of any batch of ``account_id``, by the search's own id."""
    row = conn.execute(
        sa.select(*RESULT_COLUMNS)
        .join(batches, batches.c.id == searches.c.batch_id)
        .where(searches.c.id == search_id, batches.c.account_id == account_id)
    ).first()
    return search_row(row) if row else None


def list_batches(
    conn: Connection, account_id: int, *, kind: BatchKind, limit: int, before: str | None = None
) -> list[Batch]:
    """The account's batches of ``kind``, newest first; ``before`` (a batch id) starts after that batch."""
    query = sa.select(batches).where(batches.c.account_id == account_id, batches.c.kind == kind)
    if before is not None:
        cursor = conn.execute(
            sa.select(batches.c.created_at, batches.c.id).where(
                batches.c.id == before, batches.c.account_id == account_id
            )
        ).first()
        if cursor is None:
            return []
        query = query.where(
            sa.or_(
                batches.c.created_at < cursor.created_at,
                sa.and_(batches.c.created_at == cursor.created_at, batches.c.id < cursor.id),
            )
        )
    query = query.order_by(batches.c.created_at.desc(), batches.c.id.desc()).limit(limit)
    return [batch_of_row(row) for row in conn.execute(query)]


def found_counts(conn: Connection, batch_ids: Sequence[str]) -> dict[str, int]:
    """How many searches of each batch were found."""
    if not batch_ids:
        return {}
    query = (
        sa.select(searches.c.batch_id, sa.func.count())
        .where(searches.c.batch_id.in_(list(batch_ids)), searches.c.qualification == "found")
        .group_by(searches.c.batch_id)
    )
    return {str(batch_id): int(count) for batch_id, count in conn.execute(query)}


def result_page(conn: Connection, batch_id: str, *, after: int, limit: int) -> list[SearchRow]:
    """At most ``limit`` searches of a batch with an index above ``after``, in index order (keyset
    paging: each page is one indexed range read, whatever the batch's size)."""
    rows = conn.execute(
        sa.select(*RESULT_COLUMNS)
        .where(searches.c.batch_id == batch_id, searches.c.idx > after)
        .order_by(searches.c.idx)
        .limit(limit)
    ).all()
    return [search_row(row) for row in rows]
