"""``store.bulk`` writes exactly what ``conn.execute`` writes, on both dialects."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from trova.accounts.service import create_account
from trova.store import Database
from trova.store.bulk import (
    COPY_MIN_ROWS,
    PAGE_SIZES,
    execute_many,
    insert_many,
    insert_new,
    insert_one,
    random_uuids,
    reserve_ids,
)
from trova.store.engine import savepoint
from trova.store.tables import audit_events, audit_subjects, readiness_probes

NOW = dt.datetime(2026, 11, 28, 21, 0, 0, 123456)

samples = sa.Table(
    "bulk_samples",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("label", sa.String(32), nullable=False),
    sa.Column("tags", sa.JSON, nullable=True),
    sa.Column("seen_at", sa.DateTime, nullable=True),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
)


@pytest.fixture
def table(db: Database) -> sa.Table:
    with db.write() as conn:
        samples.create(conn)
    return samples


def _rows(db: Database) -> list[tuple[object, ...]]:
    with db.read() as conn:
        return [tuple(row) for row in conn.execute(sa.select(samples).order_by(samples.c.id))]


COLUMNS = ("id", "label", "tags", "seen_at", "flag", "state")


def _stored_by_bulk_and_by_execute(
    db: Database, table: sa.Table, rows: list[tuple[object, ...]]
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with db.write() as conn:
        insert_many(conn, table, COLUMNS, rows)
    bulk = _rows(db)
    with db.write() as conn:
        conn.execute(sa.delete(table))
        conn.execute(table.insert(), [dict(zip(COLUMNS, row, strict=True)) for row in rows])
    return bulk, _rows(db)


def test_insert_one_stores_what_execute_stores(db: Database, table: sa.Table) -> None:
    values = {"id": 7, "label": "seven", "tags": ["x"], "seen_at": NOW, "flag": True, "state": "pending"}
    with db.write() as conn:
        insert_one(conn, table, values)
    ours = _rows(db)
    with db.write() as conn:
        conn.execute(sa.delete(table))
        conn.execute(table.insert().values(values))
    assert ours == _rows(db) == [(7, "seven", ["x"], NOW, True, "pending")]


def test_insert_many_stores_what_execute_stores(db: Database, table: sa.Table) -> None:
    rows: list[tuple[object, ...]] = [
        (1, "one", ["a", "b"], NOW, True, "pending"),
        (2, "two", None, None, False, "pending"),
        (3, "three", {"k": 1}, NOW, True, "done"),
    ]
    bulk, executed = _stored_by_bulk_and_by_execute(db, table, rows)
    assert bulk == executed
    assert bulk[0] == (1, "one", ["a", "b"], NOW, True, "pending")
    assert bulk[1][2] is None and bulk[1][3] is None


def _many(count: int) -> list[tuple[object, ...]]:
    """Rows enough for PostgreSQL's ``COPY`` path, with every kind of value (and odd text)."""
    values: list[object] = [["a", 'b"c'], None, {"k": "tab\there\nnewline"}, "plain", 3]
    return [
        (i, f"row {i}\t\\ é", values[i % 5], NOW if i % 2 else None, bool(i % 3), "pending")
        for i in range(1, count + 1)
    ]


def test_insert_many_of_many_rows_stores_what_execute_stores(db: Database, table: sa.Table) -> None:
    rows = _many(COPY_MIN_ROWS + 7)
    bulk, executed = _stored_by_bulk_and_by_execute(db, table, rows)
    assert bulk == executed
    assert len(bulk) == len(rows) and bulk[1] == rows[1]


def test_insert_many_streamed_from_a_generator_stores_what_execute_stores(
    db: Database, table: sa.Table
) -> None:
    """With ``count`` given, the rows may be a generator (``COPY`` consumes it as it sends on
    PostgreSQL), every value converted as ``conn.execute`` converts it; below ``COPY_MIN_ROWS`` too."""
    for rows in (_many(COPY_MIN_ROWS + 7), _many(3)):
        with db.write() as conn:
            conn.execute(sa.delete(table))
            insert_many(conn, table, COLUMNS, (row for row in rows), count=len(rows))
        streamed = _rows(db)
        with db.write() as conn:
            conn.execute(sa.delete(table))
            conn.execute(table.insert(), [dict(zip(COLUMNS, row, strict=True)) for row in rows])
        assert streamed == _rows(db)
        assert len(streamed) == len(rows) and streamed[1] == rows[1]


def test_insert_many_streamed_with_ignore_skips_conflicts_only(db: Database, table: sa.Table) -> None:
    columns = ("id", "label", "flag", "state")
    rows = [(i, f"row {i}", bool(i % 3), "pending") for i in range(1, COPY_MIN_ROWS * 2 + 1)]
    with db.write() as conn:
        insert_many(conn, table, columns, rows[::2])
        again = ((id_, "again", flag, st) for id_, _, flag, st in rows)
        insert_many(conn, table, columns, again, ignore=True, count=len(rows))
    stored = {row[0]: row[1] for row in _rows(db)}
    assert len(stored) == len(rows)
    assert all(stored[i] == (f"row {i}" if i % 2 else "again") for i in range(1, len(rows) + 1))


def test_insert_many_of_many_rows_ignore_skips_conflicts_only(db: Database, table: sa.Table) -> None:
    columns = ("id", "label", "flag", "state")
    rows = [(i, f"row {i}", bool(i % 3), "pending") for i in range(1, COPY_MIN_ROWS * 2 + 1)]
    with db.write() as conn:
        insert_many(conn, table, columns, rows[::2])
        insert_many(
            conn, table, columns, [(id_, "again", flag, st) for id_, _, flag, st in rows], ignore=True
        )
        insert_many(
            conn, table, columns, [(id_ + 1000, "twice", True, "x") for id_ in (1, 1, 2)] * 20, ignore=True
        )
    stored = {row[0]: row[1] for row in _rows(db)}
    assert len(stored) == len(rows) + 2
    assert all(stored[i] == (f"row {i}" if i % 2 else "again") for i in range(1, len(rows) + 1))
    assert stored[1001] == stored[1002] == "twice"


def test_insert_many_ignore_skips_conflicts_only(db: Database, table: sa.Table) -> None:
    columns = ("id", "label", "flag", "state")
    with db.write() as conn:
        insert_many(conn, table, columns, [(1, "first", True, "x")])
        insert_many(conn, table, columns, [(1, "again", False, "y"), (2, "new", False, "y")], ignore=True)
    assert [(row[0], row[1]) for row in _rows(db)] == [(1, "first"), (2, "new")]
    with pytest.raises(sa.exc.IntegrityError), db.write() as conn:
        insert_many(conn, table, columns, [(1, "clash", True, "z")])


def test_execute_many_keeps_the_statement_constants(db: Database, table: sa.Table) -> None:
    columns = ("id", "label", "flag", "state")
    with db.write() as conn:
        insert_many(conn, table, columns, [(i, f"n{i}", False, "pending") for i in range(1, 5)])
        conn.execute(sa.update(table).where(table.c.id == 4).values(state="done"))
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("b_id"), table.c.state == "pending")
        .values(state="done", flag=True, label=sa.bindparam("b_label"), seen_at=NOW)
    )
    with db.write() as conn:
        execute_many(conn, statement, ("b_id", "b_label"), [(1, "x1"), (2, "x2"), (4, "x4")])
    assert [(row[0], row[1], row[3], row[4], row[5]) for row in _rows(db)] == [
        (1, "x1", NOW, True, "done"),
        (2, "x2", NOW, True, "done"),
        (3, "n3", None, False, "pending"),
        (4, "n4", None, False, "done"),
    ]


def test_execute_many_with_nothing_to_do_writes_nothing(db: Database, table: sa.Table) -> None:
    with db.write() as conn:
        execute_many(conn, sa.insert(table), ("id",), [])
        insert_many(conn, table, ("id", "label", "flag", "state"), iter(()))
    assert _rows(db) == []


keyed = sa.Table(
    "bulk_keyed",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(16), nullable=False, unique=True),
    sa.Column("seen_at", sa.DateTime, nullable=False),
    sa.Column("tags", sa.JSON, nullable=True),
)


def test_insert_new_returns_the_rows_really_inserted_and_stores_what_execute_stores(db: Database) -> None:
    rows = [(f"k{i}", NOW + dt.timedelta(seconds=i), ["a", i]) for i in range(600)]
    already = [{"key": key, "seen_at": seen_at, "tags": tags} for key, seen_at, tags in (rows[5], rows[599])]
    with db.write() as conn:
        keyed.create(conn)
        conn.execute(sa.insert(keyed), already)
        inserted = insert_new(conn, keyed, ("key", "seen_at", "tags"), [*rows, rows[0]], returning="key")
        assert insert_new(conn, keyed, ("key", "seen_at", "tags"), [], returning="key") == []
    assert len(rows) + 1 == 512 + 64 + 3 * 8 + 1 and PAGE_SIZES == (512, 64, 8, 1)  # every page size used
    assert sorted(inserted) == sorted(key for key, _, _ in rows if key not in ("k5", "k599"))
    with db.read() as conn:
        stored = [tuple(row) for row in conn.execute(sa.select(keyed.c.key, keyed.c.seen_at, keyed.c.tags))]
    assert sorted(stored) == sorted((key, seen_at, tags) for key, seen_at, tags in rows)


def test_reserved_ids_are_fresh_and_usable(db: Database) -> None:
    with db.write() as conn:
        account = create_account(conn, "bulk").account.id
        first = reserve_ids(conn, audit_events, 3)
        events = [(audit_id, account, NOW) for audit_id in first]
        insert_many(conn, audit_events, ("id", "account_id", "created_at"), events)
        second = reserve_ids(conn, audit_events, 2)
        insert_many(conn, audit_subjects, ("audit_id", "subject_key"), [(first[0], b"k1"), (first[0], b"k2")])
        assert reserve_ids(conn, audit_events, 0) == []
    assert len(set(first)) == 3 and len(second) == 2
    assert min(second) > max(first)
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_subjects)).scalar_one() == 2


def _labels(db: Database) -> list[str]:
    with db.read() as conn:
        return list(conn.execute(sa.select(samples.c.label).order_by(samples.c.id)).scalars())


def test_rows_held_for_the_commit_are_inserted_then_as_execute_would(db: Database, table: sa.Table) -> None:
    columns = ("id", "label", "tags", "seen_at", "flag", "state")
    rows = [(n, f"r{n}", ["t"] if n % 2 else None, NOW, n % 3 == 0, "pending") for n in range(1, 71)]
    with db.write() as conn:
        for row in rows:
            insert_many(conn, table, columns, [row], at_commit=True)
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
    ours = _rows(db)
    with db.write() as conn:
        conn.execute(sa.delete(table))
        insert_many(conn, table, columns, rows)
    assert ours == _rows(db)
    assert len(ours) == 70


def test_a_savepoint_rolled_back_drops_the_rows_it_held(db: Database, table: sa.Table) -> None:
    columns = ("id", "label", "flag", "state")
    with db.write() as conn:
        insert_many(conn, table, columns, [(1, "kept", False, "s")], at_commit=True)
        with pytest.raises(ValueError), savepoint(conn):
            insert_many(conn, table, columns, [(2, "dropped", False, "s")], at_commit=True)
            insert_one(conn, readiness_probes, {"name": "dropped", "probed_at": NOW}, at_commit=True)
            raise ValueError("undone")
        insert_many(conn, table, columns, [(3, "after", False, "s")], at_commit=True)
    assert _labels(db) == ["kept", "after"]
    with db.read() as conn:
        assert conn.execute(sa.select(readiness_probes.c.name)).all() == []


def test_a_savepoint_rolled_back_before_any_row_was_held_leaves_none(db: Database, table: sa.Table) -> None:
    columns = ("id", "label", "flag", "state")
    with db.write() as conn:
        with pytest.raises(ValueError), savepoint(conn):
            insert_many(conn, table, columns, [(1, "dropped", False, "s")], at_commit=True)
            raise ValueError("undone")
        insert_one(conn, table, {"id": 2, "label": "alone", "flag": True, "state": "s"}, at_commit=True)
    assert _labels(db) == ["alone"]


def test_rows_held_in_a_transaction_that_fails_are_not_inserted_by_the_next(
    db: Database, table: sa.Table
) -> None:
    columns = ("id", "label", "flag", "state")
    with pytest.raises(RuntimeError), db.write() as conn:
        insert_many(conn, table, columns, [(1, "lost", False, "s")], at_commit=True)
        raise RuntimeError("rolled back")
    for _ in range(3):  # whichever pooled connection comes next
        with db.write() as conn:
            conn.execute(sa.select(1))
    assert _labels(db) == []


def test_random_uuids_are_distinct_version_4_uuids_written_as_uuid_writes_them() -> None:
    drawn = random_uuids(3000)
    parsed = [uuid.UUID(text) for text in drawn]
    assert len(set(drawn)) == 3000
    assert [str(value) for value in parsed] == drawn
    assert {(value.version, value.variant) for value in parsed} == {(4, uuid.RFC_4122)}
    assert random_uuids(0) == []
