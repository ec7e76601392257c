"""Narrow reads of the batches of one run (the web app's pages): a few rows, never a whole batch.

A page shows 50 rows of a run of up to many batches of 3,000 searches; reading every result to show
50 of them (``service.get_bulk``) is what made a search page cost 100+ ms. These reads take only
what the page shows: the batches' counters, the indexes of the found searches (to filter and count),
the results of the shown rows, and the batches a web upload became (to recover its link).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.batches import repository
from trova.batches.models import BatchStatus, SearchRow
from trova.batches.repository import _RESULT_COLUMNS, _search_row
from trova.store.sql import distinct_slices
from trova.store.tables import batches, searches


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


def found_counts(conn: Connection, batch_ids: Sequence[str]) -> dict[str, int]:
    """Per batch, how many of its searches were answered ``found`` so far (one grouped read)."""
    return repository.found_counts(conn, batch_ids)


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
        query = sa.select(*_RESULT_COLUMNS).where(searches.c.batch_id == batch_id, searches.c.idx.in_(part))
        rows.extend(_search_row(row) for row in conn.execute(query))
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
