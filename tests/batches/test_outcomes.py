"""The job step's statements for many jobs at once, on SQLite and PostgreSQL: the pending searches
of many index ranges, and the finished counts of many batches."""

from __future__ import annotations

from tests.batches.test_service import GOOD, SETTINGS, new_account
from trova.accounts.models import Account
from trova.batches import outcomes as outcomes_repo
from trova.batches import service as batches
from trova.people.models import SearchOutcome
from trova.store import Database, utcnow


def submit_bulk(db: Database, account: Account, count: int) -> str:
    with db.write() as conn:
        return batches.submit(
            conn, account, batches.read_bulk({"searches": [GOOD] * count}, SETTINGS), SETTINGS
        ).id


def test_the_pending_searches_of_seventy_ranges_are_each_ranges_own_in_index_order(db: Database) -> None:
    account = new_account(db, credits=100_000)
    big, other = submit_bulk(db, account, 150), submit_bulk(db, account, 3)
    with db.write() as conn:
        every = outcomes_repo.pending_searches(conn, big, 0, 149)
        done = [SearchOutcome(search.id, "not_found") for search in every if search.index % 7 == 0]
        outcomes_repo.write_outcomes(conn, done, set(), now=utcnow())
    # 70 ranges: read by two statements, of 64 and of 16 (6 ranges, the last repeated)
    ranges = [*((big, 2 * n, 2 * n + 1) for n in range(69)), (other, 1, 2)]
    with db.read() as conn:
        got = outcomes_repo.pending_in_ranges(conn, ranges)
        alone = [outcomes_repo.pending_searches(conn, *one) for one in ranges]
        without_params = outcomes_repo.pending_in_ranges(conn, ranges[-3:], with_params=False)
    assert [[search.index for search in chunk] for chunk in got] == [
        [i for i in range(first, last + 1) if batch_id == other or i % 7] for batch_id, first, last in ranges
    ]
    assert got == alone
    assert [search.params for chunk in got for search in chunk] == [GOOD] * sum(map(len, got))
    assert [[(s.id, s.params) for s in chunk] for chunk in without_params] == [
        [(s.id, None) for s in chunk] for chunk in got[-3:]
    ]


def test_many_batches_are_counted_in_one_call_each_by_its_own_count(db: Database) -> None:
    account = new_account(db, credits=100_000)
    sizes = [3, 5, 2, 8, 1, 4]
    ids = [submit_bulk(db, account, size) for size in sizes]
    with db.write() as conn:
        first = outcomes_repo.add_finished(conn, {batch_id: 1 for batch_id in ids})
        second = outcomes_repo.add_finished(conn, {ids[0]: 2, ids[3]: 3})
    assert first == {batch_id: (1, size) for batch_id, size in zip(ids, sizes, strict=True)}
    assert second == {ids[0]: (3, 3), ids[3]: (4, 8)}
