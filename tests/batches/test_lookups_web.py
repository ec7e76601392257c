"""The narrow reads of a run's batches (counters, found indexes, shown rows, batches of an upload),
on both dialects: the upload's batches are found through their JSON ``custom``."""

from __future__ import annotations

from typing import Any

from trova.accounts import service as accounts
from trova.accounts.models import Account
from trova.batches import lookups, repository
from trova.batches import outcomes as outcomes_repo
from trova.batches import service as batches
from trova.people.models import SearchOutcome
from trova.settings import Settings
from trova.store import Database
from trova.store.engine import utcnow

SETTINGS = Settings()


def new_account(db: Database, name: str) -> Account:
    with db.write() as conn:
        return accounts.create_account(conn, name, credits=100_000).account


def submit(db: Database, account: Account, count: int, custom: Any) -> str:
    body = {"searches": [{"linkedin_url": f"https://www.linkedin.com/in/p{i}"} for i in range(count)],
            "custom": custom}
    with db.write() as conn:
        return batches.submit(conn, account, batches.read_bulk(body, SETTINGS), SETTINGS).id


def test_the_batches_of_an_upload_are_found_in_part_order_and_only_for_their_account(db: Database) -> None:
    ann, bob = new_account(db, "ann"), new_account(db, "bob")
    second = submit(db, ann, 2, {"web_upload": "u-1", "web_part": 1})
    first = submit(db, ann, 2, {"web_upload": "u-1", "web_part": 0})
    submit(db, ann, 2, {"web_upload": "u-2", "web_part": 0})
    submit(db, ann, 2, ["web_upload", "u-1"])
    submit(db, ann, 2, "u-1")
    submit(db, bob, 2, {"web_upload": "u-1", "web_part": 0})
    with db.read() as conn:
        assert lookups.batches_of_upload(conn, ann.id, "u-1") == [(first, 0), (second, 1)]
        assert lookups.batches_of_upload(conn, ann.id, "u-3") == []
        counters = lookups.counters(conn, ann.id, [first, second])
        assert lookups.counters(conn, bob.id, [first]) == {}
    assert {c.id: (c.status, c.requested, c.finished) for c in counters.values()} == {
        first: ("ongoing", 2, 0), second: ("ongoing", 2, 0)
    }


def test_found_indexes_and_the_rows_at_some_indexes(db: Database) -> None:
    account = new_account(db, "ann")
    batch_id = submit(db, account, 5, {"web_upload": "u"})
    with db.write() as conn:
        pending = repository.searches_of_batch(conn, batch_id)
        outcomes = [
            SearchOutcome(row.id, "found", number=f"+3361234567{row.index}", country="FR", line_type="mobile")
            if row.index in (1, 3) else SearchOutcome(row.id, "not_found")
            for row in pending
        ]
        outcomes_repo.write_outcomes(conn, outcomes, set(), now=utcnow())
    with db.read() as conn:
        assert sorted(lookups.found_indexes(conn, [batch_id])[batch_id]) == [1, 3]
        assert lookups.found_counts(conn, [batch_id]) == {batch_id: 2}
        shown = lookups.results_at(conn, batch_id, [3, 4])
    assert sorted((row.index, row.number) for row in shown) == [(3, "+33612345673"), (4, None)]
