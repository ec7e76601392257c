"""The account's batches, newest first, with counts and cost (``GET /phone/bulks``, ``trova batches``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from trova.accounts.models import Account
from trova.batches import lookups
from trova.batches.models import Batch, BatchStats
from trova.batches.service import batch_cost

MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class BatchSummary:
    batch: Batch
    stats: BatchStats


def list_bulks(conn: Connection, account: Account, *, limit: int, before: str | None) -> list[BatchSummary]:
    """At most ``limit`` bulk batches of ``account``, newest first, after the batch ``before``."""
    found_batches = lookups.list_batches(conn, account.id, kind="bulk", limit=limit, before=before)
    found = lookups.found_counts(conn, [batch.id for batch in found_batches])
    summaries = []
    for batch in found_batches:
        cost, refund = batch_cost(conn, batch.id)
        hits = found.get(batch.id, 0)
        stats = BatchStats(batch.requested, batch.finished, hits, hits, cost, refund)
        summaries.append(BatchSummary(batch, stats))
    return summaries
