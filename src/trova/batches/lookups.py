"""The account-facing reads of batches and searches, each narrow: the listing of an account's
batches, one search by its id, a finished batch's results page by page (``GET /phone/bulk/export``),
and the reads of the web app's pages (a run of many batches of 3,000 searches shows 50 rows: reading
every result to show 50 of them is what made a search page cost 100+ ms, so these take only the
batches' counters, the indexes of the found searches, the shown rows, and the batches a web upload
became, to recover its link).

The tables are those of :mod:`trova.batches.repository`, which shares its row readers; every
statement here is plain SQLAlchemy Core, the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.batches.models import Batch, BatchKind, BatchStatus, SearchRow
from trova.batches.repository import RESULT_COLUMNS, batch_of_row, search_row
from trova.store.sql import distinct_slices, first_row
from trova.store.tables import batches, searches

_SINGLE_SEARCH = (
    sa.select(*RESULT_COLUMNS)
    .join(batches, batches.c.id == searches.c.batch_id)
    .where(
        searches.c.batch_id == sa.bindparam("batch_id"),
        batches.c.account_id == sa.bindparam("account_id"),
        batches.c.kind == "single",
    )
    .order_by(searches.c.idx)
    .limit(1)
)
"""Built once: GET /phone/single is the hottest read of the API, run on the driver
(:func:`~trova.store.sql.first_row`)."""


def single_search(conn: Connection, batch_id: str, account_id: int) -> SearchRow | None:
    """The search of the single batch ``batch_id`` of ``account_id``, in one statement (one snapshot)."""
    row = first_row(conn, _SINGLE_SEARCH, {"batch_id": batch_id, "account_id": account_id})
    return search_row(row) if row else None


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


@dataclass(frozen=True, slots=True)
class BatchCounters:
    id: str
    status: BatchStatus
    requested: int
    finished: int


def counters(conn: Connection, account_id: int, batch_ids: Sequence[str]) -> dict[str, BatchCounters]:
    """Status and counters of those of ``batch_ids`` that are bulk batches of ``account_id``."""
    found: dict[str, BatchCounters] = {}
    for part in distinct_slices(batch_ids):
        query = sa.select(batches.c.id, batches.c.status, batches.c.requested, batches.c.finished).where(
            batches.c.id.in_(part), batches.c.account_id == account_id, batches.c.kind == "bulk"
        )
        for row in conn.execute(query):
            found[row.id] = BatchCounters(row.id, row.status, int(row.requested), int(row.finished))
    return found


def found_indexes(conn: Connection, batch_ids: Sequence[str]) -> dict[str, list[int]]:
    """Per batch, the indexes of its searches answered with a number (``found``)."""
    found: dict[str, list[int]] = {batch_id: [] for batch_id in batch_ids}
    for part in distinct_slices(batch_ids):
        query = sa.select(searches.c.batch_id, searches.c.idx).where(
            searches.c.batch_id.in_(part),
            searches.c.qualification == "found",
            searches.c.number.is_not(None),
        )
        for batch_id, index in conn.execute(query):
            found[batch_id].append(int(index))
    return found


def results_at(conn: Connection, batch_id: str, indexes: Collection[int]) -> list[SearchRow]:
    """The searches of one batch at ``indexes`` (the rows a page shows)."""
    rows: list[SearchRow] = []
    for part in distinct_slices(indexes):
        query = sa.select(*RESULT_COLUMNS).where(searches.c.batch_id == batch_id, searches.c.idx.in_(part))
        rows.extend(search_row(row) for row in conn.execute(query))
    return rows


def batches_of_upload(conn: Connection, account_id: int, upload_id: str) -> list[tuple[str, int]]:
    """(batch id, part) of the account's batches whose ``custom`` names this web upload."""
    custom = batches.c.custom
    query = sa.select(batches.c.id, custom["web_part"].as_integer()).where(
        batches.c.account_id == account_id,
        batches.c.kind == "bulk",
        custom["web_upload"].as_string() == upload_id,
    )
    return sorted(((str(row[0]), int(row[1] or 0)) for row in conn.execute(query)), key=lambda item: item[1])
