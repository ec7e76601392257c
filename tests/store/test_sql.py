"""How the repositories cut keys and rows into statements (``trova.store.sql``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from trova.accounts import repository as repo
from trova.accounts import service as accounts_service
from trova.store import Database
from trova.store.bulk import insert_many, insert_one
from trova.store.sql import (
    SLICE_SIZES,
    batches,
    distinct_slices,
    driver_rows,
    first_row,
    keys_in,
    numbered_placeholders,
    padded_slices,
    pipelined,
    run_compiled,
    run_keyed,
)
from trova.store.tables import accounts, ledger_entries


def test_distinct_slices_keep_first_seen_order_without_repeats() -> None:
    assert list(distinct_slices([3, 1, 3, 2, 1, 4], size=2)) == [[3, 1], [2, 4]]
    assert list(distinct_slices([])) == []


def test_padded_slices_repeat_their_first_value_up_to_a_statement_size() -> None:
    assert list(padded_slices(["a", "b", "a"])) == [["a", "b"] + ["a"] * (SLICE_SIZES[0] - 2)]
    largest = SLICE_SIZES[-1]
    parts = list(padded_slices(range(largest + 10)))
    assert [len(part) for part in parts] == [largest, SLICE_SIZES[1]]
    assert parts[1][:10] == list(range(largest, largest + 10))
    assert set(parts[1][10:]) == {largest}


def test_batches_cut_rows_in_order() -> None:
    rows = [{"n": i} for i in range(5)]
    assert [list(part) for part in batches(rows, 2)] == [rows[:2], rows[2:4], rows[4:]]


_ACCOUNT = sa.select(
    accounts.c.id,
    accounts.c.name,
    accounts.c.phone_enabled,
    accounts.c.created_at,
    accounts.c.upstream_budget_per_month,
    accounts.c.webhook_url,
).where(accounts.c.name == sa.bindparam("name"), accounts.c.phone_enabled == sa.true())
_MISSING = sa.select(sa.table("no_such_table", sa.column("x")).c.x).where(sa.literal_column("1") == 1)


def test_first_row_gives_the_values_sqlalchemy_gives(db: Database) -> None:
    with db.write() as conn:
        created = accounts_service.create_account(conn, "first-row", credits=3).account
        repo.set_upstream_budget(conn, created.id, 2.5)
    with db.read() as conn:
        expected = tuple(conn.execute(_ACCOUNT, {"name": "first-row"}).one())
        inside_a_transaction = first_row(conn, _ACCOUNT, {"name": "first-row"})
    with db.read_single() as conn:
        alone = first_row(conn, _ACCOUNT, {"name": "first-row"})
        assert first_row(conn, _ACCOUNT, {"name": "nobody"}) is None
    assert alone == inside_a_transaction == expected
    assert isinstance(expected[3], dt.datetime) and expected[2] is True and expected[4] == 2.5


def test_first_row_raises_driver_errors_as_sqlalchemy_does(db: Database) -> None:
    with db.read_single() as conn, pytest.raises(sa.exc.DBAPIError) as raised:
        first_row(conn, _MISSING, {})
    assert "no_such_table" in str(raised.value.orig)
    with db.read_single() as conn:  # the pooled connection still serves
        assert first_row(conn, _ACCOUNT, {"name": "nobody"}) is None


_NAMES = (
    sa.select(accounts.c.name, sa.cast(accounts.c.webhook_url, sa.Text).label("url"))
    .where(accounts.c.name.like(sa.bindparam("prefix")))
    .order_by(accounts.c.name)
)


def test_driver_rows_gives_every_row_as_the_driver_gives_it(db: Database) -> None:
    with db.write() as conn:
        for name in ("rows-b", "rows-a", "other"):
            accounts_service.create_account(conn, name, webhook_url=f"https://{name}.example/hook")
    with db.read() as conn:
        rows = driver_rows(conn, _NAMES, {"prefix": "rows-%"})
        assert driver_rows(conn, _NAMES, {"prefix": "nobody%"}) == []
    assert [tuple(row) for row in rows] == [
        ("rows-a", "https://rows-a.example/hook"),
        ("rows-b", "https://rows-b.example/hook"),
    ]
    with db.read_single() as conn, pytest.raises(sa.exc.DBAPIError):
        driver_rows(conn, _MISSING, {})


def test_numbered_placeholders_rewrite_psycopgs_names_into_the_servers_numbers() -> None:
    written = "a = %(x)s AND b LIKE 'p%%' AND c = %(y)s OR d = %(x)s"
    assert numbered_placeholders(written) == ("a = $1 AND b LIKE 'p%' AND c = $2 OR d = $1", ("x", "y"))
    assert numbered_placeholders("a = %s") is None
    assert numbered_placeholders("SELECT 1") == ("SELECT 1", ())


def _named_like(size: int) -> sa.Select[Any]:
    """Keys, a bound value used twice, and a literal ``%``: what the rewritten statement must keep."""
    marker = sa.bindparam("marker", type_=sa.Text)
    return (
        sa.select(
            accounts.c.name,
            (marker + sa.literal_column("'%'", sa.Text) + accounts.c.name + marker).label("marked"),
        )
        .where(keys_in(accounts.c.name, size), accounts.c.name.like(sa.literal_column("'keyed-%'")))
        .order_by(accounts.c.name)
    )


def test_run_compiled_gives_the_rows_sqlalchemy_gives(db: Database) -> None:
    with db.write() as conn:
        for name in ("keyed-a", "keyed-b", "keyed-c", "other"):
            accounts_service.create_account(conn, name)
    keys = ["keyed-c", "keyed-a", "other", "nobody"]
    params = {"marker": "|", **{f"k{i}": key for i, key in enumerate(keys)}}
    with db.read() as conn:
        expected = [tuple(row) for row in conn.execute(_named_like(len(keys)), params)]
        got = [tuple(row) for row in run_compiled(conn, _named_like, len(keys), params)]
        sliced = run_keyed(conn, lambda size: _named_like(size).params(marker="|"), keys)
        by_slices: list[tuple[str, str]] = sorted((first, second) for first, second in sliced)
    assert got == expected == [("keyed-a", "|%keyed-a|"), ("keyed-c", "|%keyed-c|")]
    assert by_slices == expected


def test_run_compiled_raises_driver_errors_as_sqlalchemy_does(db: Database) -> None:
    def missing(size: int) -> sa.Select[tuple[int]]:
        table = sa.table("no_such_table", sa.column("x", sa.Integer))
        return sa.select(table.c.x).where(keys_in(table.c.x, size))

    with db.read() as conn, pytest.raises(sa.exc.DBAPIError) as raised:
        run_compiled(conn, missing, 1, {"k0": 1})
    assert "no_such_table" in str(raised.value.orig)


def _entry(account_id: int, search_id: str, delta: int) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "kind": "test",
        "batch_id": "pipelined",
        "search_id": search_id,
        "sub_delta": delta,
        "paygo_delta": 0,
        "created_at": dt.datetime(2026, 12, 7),
    }


def _entries(conn: sa.Connection) -> list[tuple[str, int]]:
    query = sa.select(ledger_entries.c.search_id, ledger_entries.c.sub_delta).where(
        ledger_entries.c.batch_id == "pipelined"
    )
    return [(row.search_id, row.sub_delta) for row in conn.execute(query.order_by(ledger_entries.c.id))]


def test_pipelined_writes_are_stored_in_their_order(db: Database) -> None:
    with db.write() as conn:
        account_id = accounts_service.create_account(conn, "pipelined", credits=0).account.id
        with pipelined(conn):
            if not db.is_sqlite:  # the statements are sent without waiting for their answers
                driver: Any = conn.connection.driver_connection
                assert driver.pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF
            insert_one(conn, ledger_entries, _entry(account_id, "a", 1))
            later = [tuple(_entry(account_id, search, n).values()) for search, n in (("b", 2), ("c", 3))]
            insert_many(conn, ledger_entries, tuple(_entry(account_id, "", 0)), later)
        assert _entries(conn) == [("a", 1), ("b", 2), ("c", 3)]  # answered, within the transaction
    with db.read() as conn:
        assert _entries(conn) == [("a", 1), ("b", 2), ("c", 3)]


def test_a_failed_pipelined_write_is_raised_as_sqlalchemy_does_and_nothing_is_kept(db: Database) -> None:
    with db.write() as conn:
        account_id = accounts_service.create_account(conn, "pipelined-fails", credits=0).account.id
    with pytest.raises(sa.exc.IntegrityError), db.write() as conn, pipelined(conn):
        insert_one(conn, ledger_entries, _entry(account_id, "a", 1))
        insert_one(conn, ledger_entries, _entry(account_id, "a", 2))  # the same (kind, batch, search)
        insert_one(conn, ledger_entries, _entry(account_id, "b", 3))
    with db.write() as conn:  # the pooled connection still serves, and nothing was kept
        assert _entries(conn) == []
        with pipelined(conn):
            insert_one(conn, ledger_entries, _entry(account_id, "c", 4))
    with db.read() as conn:
        assert _entries(conn) == [("c", 4)]
