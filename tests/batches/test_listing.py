"""The account's batches, newest first (``GET /phone/bulks``, ``trova batches``), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from tests.batches.test_service import GOOD, SETTINGS, new_account
from trova.accounts import service as accounts
from trova.batches import outcomes as outcomes_repo
from trova.batches import repository as batches_repo
from trova.batches import service as batches
from trova.batches.listing import list_bulks
from trova.batches.models import ChunkOutcomes
from trova.people.models import SearchOutcome
from trova.store import Database

T0 = dt.datetime(2026, 11, 1, 9, 0, 0)


def submit(db: Database, account_name: str, kind: str, count: int) -> str:
    with db.write() as conn:
        account = accounts.require_account(conn, account_name)
        read = batches.read_bulk if kind == "bulk" else batches.read_single
        body = {"searches": [GOOD] * count} if kind == "bulk" else GOOD
        return batches.submit(conn, account, read(body, SETTINGS), SETTINGS).id


def finish(db: Database, batch_id: str, found: int) -> None:
    """Give a batch its results through the job step's own write: ``found`` found, the rest not."""
    with db.write() as conn:
        batch = batches_repo.get_batch(conn, batch_id)
        assert batch is not None
        pending = outcomes_repo.pending_searches(conn, batch_id, 0, batch.requested - 1)
        outcomes = [
            SearchOutcome(search.id, "found", "+33612345678", "FR", "mobile", person_key=f"p:{i}")
            if i < found else SearchOutcome(search.id, "not_found")
            for i, search in enumerate(pending)
        ]
        batches.record_chunks(conn, [ChunkOutcomes(batch, pending, outcomes)])


def test_batches_are_listed_newest_first_and_paged_by_a_cursor(db: Database) -> None:
    owner = new_account(db, credits=10_000, name="lister")
    new_account(db, credits=10_000, name="stranger")
    oldest = submit(db, "lister", "bulk", 3)
    tied = [submit(db, "lister", "bulk", 1), submit(db, "lister", "bulk", 2)]
    submit(db, "lister", "single", 1)
    theirs = submit(db, "stranger", "bulk", 1)
    with db.write() as conn:
        batches_repo.set_batch_times(conn, oldest, created_at=T0, completed_at=None)
        for batch_id in tied:
            later = T0 + dt.timedelta(hours=1)
            batches_repo.set_batch_times(conn, batch_id, created_at=later, completed_at=None)
    finish(db, oldest, found=2)

    with db.read() as conn:
        everything = list_bulks(conn, owner, limit=10, before=None)
        first = list_bulks(conn, owner, limit=2, before=None)
        rest = list_bulks(conn, owner, limit=2, before=first[-1].batch.id)
        after_theirs = list_bulks(conn, owner, limit=10, before=theirs)

    assert [s.batch.id for s in everything] == [*sorted(tied, reverse=True), oldest]
    assert [s.batch.id for s in first + rest] == [s.batch.id for s in everything]
    assert after_theirs == []
    summary = everything[-1]
    assert (summary.batch.status, summary.stats.requested, summary.stats.finished) == ("completed", 3, 3)
    assert (summary.stats.found, summary.stats.credits_cost) == (2, 2 * 40)
    assert summary.stats.credits_to_refund == 40
    assert [(s.batch.status, s.stats.found, s.stats.finished) for s in everything[:2]] == [
        ("ongoing", 0, 0), ("ongoing", 0, 0)
    ]
