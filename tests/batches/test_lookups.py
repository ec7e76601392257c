"""One search by its id and a batch's results page by page, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Connection

from tests.batches.test_service import GOOD, SETTINGS, new_account
from trova.accounts.models import Account
from trova.batches import lookups
from trova.batches import service as batches
from trova.errors import SearchNotFound
from trova.store import Database


def submit_bulk(conn: Connection, account: Account, count: int) -> str:
    submission = batches.read_bulk({"searches": [GOOD] * count}, SETTINGS)
    return batches.submit(conn, account, submission, SETTINGS).id


def test_result_pages_cover_the_batch_in_index_order(db: Database) -> None:
    owner = new_account(db, credits=10_000)
    with db.write() as conn:
        batch_id = submit_bulk(conn, owner, 7)
    seen: list[int] = []
    after = -1
    with db.read() as conn:
        while page := lookups.result_page(conn, batch_id, after=after, limit=3):
            assert len(page) <= 3
            seen.extend(row.index for row in page)
            after = page[-1].index
        assert lookups.result_page(conn, "00000000-0000-4000-8000-000000000000", after=-1, limit=3) == []
    assert seen == list(range(7))


def test_a_search_of_a_bulk_is_found_by_its_id_for_its_account_only(db: Database) -> None:
    owner = new_account(db, credits=10_000)
    other = new_account(db, credits=10_000, name="other")
    with db.write() as conn:
        batch_id = submit_bulk(conn, owner, 2)
        single_id = batches.submit(conn, owner, batches.read_single(GOOD, SETTINGS), SETTINGS).id
    with db.read() as conn:
        second = lookups.result_page(conn, batch_id, after=0, limit=1)[0]
        assert batches.get_any_search(conn, owner, second.id).index == 1
        assert batches.get_any_search(conn, owner, single_id).id == single_id
        assert lookups.search_of_account(conn, second.id, other.id) is None
        for search_id in (second.id, batch_id):
            with pytest.raises(SearchNotFound):
                batches.get_any_search(conn, other if search_id == second.id else owner, search_id)
