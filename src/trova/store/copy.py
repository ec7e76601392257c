"""``trova db copy``: move a whole Trova install (usually the embedded SQLite file) onto PostgreSQL.

The copy is all or nothing. The source is read in one read transaction (one consistent snapshot,
so a server still running beside it cannot tear the copy); the target is migrated, then filled in
one write transaction that also restarts the PostgreSQL id sequences after the copied ids and
verifies the result before it commits: the row counts of every table here, then the check the
caller gives (``trova db copy`` passes ``accounts.service.verify_copied_balances``: each account's
balances and ledger sums; ``store`` knows no domain). Any failure rolls the target back to empty,
so the command can simply be run again.

Every table of :data:`trova.store.tables.metadata` is copied, parents before children, with its ids
unchanged: API keys, batch and search ids, webhook message ids (hence ``webhook-id`` headers) all
keep working.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from trova.errors import DatabaseCopyError
from trova.store.engine import Database
from trova.store.migrate import alembic_config, current_revision, upgrade
from trova.store.tables import metadata

COPY_CHUNK_ROWS = 5000
"""Rows read and inserted per round trip: bounded memory for contact stores of millions of rows."""

ALEMBIC_TABLE = "alembic_version"

T = TypeVar("T")

Check = Callable[[Connection, Connection], T]
"""A verification of the copy beyond row counts: ``check(source, target)`` runs in the copy's
write transaction, after every table was copied, with the source snapshot and the target. It
raises :class:`~trova.errors.DatabaseCopyError` on any difference (the copy is then rolled back)
and otherwise returns what it verified, kept in :attr:`CopyReport.checked`."""


@dataclass(frozen=True, slots=True)
class TableCopy:
    """How many rows one table had in the source and now has in the target."""

    name: str
    rows: int


@dataclass(frozen=True, slots=True)
class CopyReport(Generic[T]):
    """What ``trova db copy`` copied, and what the caller's check verified."""

    tables: tuple[TableCopy, ...]
    checked: T

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)


Progress = Callable[[str, int], None]


def copy_database(
    source_url: str, target_url: str, check: Check[T], *, progress: Progress | None = None
) -> CopyReport[T]:
    """Copy every table of ``source_url`` into the empty database ``target_url``, verified by the
    row counts and ``check``; see the module."""
    require_source_file(source_url)
    source, target = Database(source_url, pool_size=1), Database(target_url, pool_size=1)
    try:
        if source.engine.url == target.engine.url:
            raise DatabaseCopyError("--from and --to name the same database")
        require_trova_schema(source)
        require_empty(target)
        upgrade(target)
        with source.read() as src, target.write() as dst:
            copied = tuple(copy_table(src, dst, table, progress) for table in metadata.sorted_tables)
            restart_sequences(dst)
            return verify(src, dst, copied, check)
    except sa.exc.SQLAlchemyError as error:
        raise DatabaseCopyError(f"database error: {first_line(error)}") from error
    finally:
        source.dispose()
        target.dispose()


def first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def require_source_file(url: str) -> None:
    """A SQLite source must exist: connecting to a missing file would silently create an empty one."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path in ("", ":memory:") or not Path(path).is_file():
            raise DatabaseCopyError(f"source database file not found: {path or '(none)'}")


def require_trova_schema(source: Database) -> None:
    """The source must be a Trova database at the newest schema (``trova migrate`` brings it there)."""
    head = ScriptDirectory.from_config(alembic_config(source.url)).get_current_head()
    revision = current_revision(source)
    if revision is None:
        raise DatabaseCopyError("the source database has no Trova schema")
    if revision != head:
        raise DatabaseCopyError(
            f"the source database is at schema {revision}, not {head}: run `trova migrate` on it first"
        )


def require_empty(target: Database) -> None:
    """Refuse a target holding any row of a Trova table, or any table that is not Trova's."""
    with target.read() as conn:
        present = set(sa.inspect(conn).get_table_names())
        foreign = sorted(present - set(metadata.tables) - {ALEMBIC_TABLE})
        if foreign:
            raise DatabaseCopyError(
                f"the target database is not empty: it has tables that are not Trova's ({', '.join(foreign)})"
            )
        for table in metadata.sorted_tables:
            if table.name in present and count_rows(conn, table):
                raise DatabaseCopyError(
                    f"the target database is not empty: table {table.name} has rows; "
                    "copy only into an empty database"
                )


def count_rows(conn: Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def read_chunks(conn: Connection, table: sa.Table) -> Iterator[list[dict[str, object]]]:
    """The rows of ``table`` in primary-key order, ``COPY_CHUNK_ROWS`` at a time, streamed."""
    query = sa.select(table).order_by(*table.primary_key.columns)
    result = conn.execution_options(yield_per=COPY_CHUNK_ROWS).execute(query)
    for partition in result.mappings().partitions():
        yield [dict(row) for row in partition]


def copy_table(src: Connection, dst: Connection, table: sa.Table, progress: Progress | None) -> TableCopy:
    rows = 0
    try:
        for chunk in read_chunks(src, table):
            dst.execute(table.insert(), chunk)
            rows += len(chunk)
    except sa.exc.SQLAlchemyError as error:
        raise DatabaseCopyError(f"copying table {table.name} failed: {first_line(error)}") from error
    if progress is not None:
        progress(table.name, rows)
    return TableCopy(name=table.name, rows=rows)


def restart_sequences(dst: Connection) -> None:
    """On PostgreSQL, move each id sequence past the copied ids (explicit ids do not advance it).

    Without this the first new account, ledger row or job would collide with a copied id.
    """
    if dst.dialect.name != "postgresql":
        return
    for table in metadata.sorted_tables:
        column = table.autoincrement_column
        if column is None:
            continue
        dst.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                f'COALESCE(MAX("{column.name}"), 1), MAX("{column.name}") IS NOT NULL) FROM "{table.name}"'
            ),
            {"table": table.name, "column": column.name},
        )


def verify(src: Connection, dst: Connection, copied: tuple[TableCopy, ...], check: Check[T]) -> CopyReport[T]:
    """Compare the target with the source snapshot inside the copy transaction; raise on any difference."""
    for table, done in zip(metadata.sorted_tables, copied, strict=True):
        expected, landed = count_rows(src, table), count_rows(dst, table)
        if not expected == landed == done.rows:
            raise DatabaseCopyError(
                f"verification failed: table {table.name} has {expected} rows in the source, "
                f"{landed} in the target"
            )
    return CopyReport(tables=copied, checked=check(src, dst))
