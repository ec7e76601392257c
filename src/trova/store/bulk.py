"""Many rows in one driver ``executemany``, and ids known before the rows are inserted.

SQLAlchemy's per-row parameter handling (``construct_params`` and each bind processor, row by row)
costs more than the database's own work when thousands of rows are written at once: a 3,000-search
job step spent most of its result transaction there, an import of a million rows minutes. Here a
statement is compiled once for the connection's dialect and every value goes through its bind's own
type processor, so what is stored is exactly what ``conn.execute`` would store.

On PostgreSQL, ``insert_many`` of many rows goes through ``COPY … FROM STDIN`` instead: one stream
rather than one statement a row (an import's inserts ran at about 2,700 rows a second as
statements). Rows that must skip conflicts are copied into a temporary table first and moved with
one ``INSERT … SELECT … ON CONFLICT DO NOTHING``, since ``COPY`` itself cannot skip a row.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from trova.store.engine import TRANSACTION_STATE, before_commit, on_rollback
from trova.store.sql import DriverStatement, changed_on_driver, for_driver, pipelined, run_on_driver
from trova.store.upsert import insert_ignore

COPY_MIN_ROWS = 50
"""Fewer rows are inserted as statements: a temporary table costs more than it saves for them."""
HELD_ROWS_ORDER = -1
"""The rows held for the commit are inserted before the other :func:`before_commit` callbacks,
which take rows other transactions wait for (accounts' balances): those stay held for the commit
only."""


def execute_many(
    conn: Connection, statement: ClauseElement, names: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Run ``statement`` once per row; ``names`` are its ``bindparam`` names, in the order of each row.

    Binds the statement carries a value for (``.values(status="done")``, ``== "pending"``) keep
    that value on every row. Expanding binds (``IN`` lists) are not supported. Each distinct value
    is converted once: pass JSON arrays as tuples, so that repeated ones are recognised.
    """
    batch = list(rows)
    if not batch:
        return
    _execute_compiled(conn, _compiled(statement, conn.dialect), names, batch)


@functools.lru_cache(maxsize=64)
def _compiled(statement: ClauseElement, dialect: sa.Dialect) -> SQLCompiler:
    """``statement`` compiled for ``dialect``, once per statement object: build the statements
    given to :func:`execute_many` once (a job's results were compiled afresh for every job)."""
    return cast(SQLCompiler, statement.compile(dialect=dialect))


def _execute_compiled(
    conn: Connection, compiled: SQLCompiler, names: Sequence[str], batch: list[Sequence[Any]]
) -> None:
    """:func:`execute_many` of a statement already compiled for ``conn``'s dialect."""
    columns = _converted_columns(conn, compiled, names, batch)
    if compiled.positiontup is not None:
        conn.exec_driver_sql(compiled.string, list(_rows(columns, compiled.positiontup, len(batch))))
        return
    keys = list(compiled.params)
    conn.exec_driver_sql(
        compiled.string, [dict(zip(keys, row, strict=True)) for row in _rows(columns, keys, len(batch))]
    )


def _converted_columns(
    conn: Connection, compiled: SQLCompiler, names: Sequence[str], batch: list[Sequence[Any]]
) -> dict[str, Any]:
    """Each bind's values, column by column, as its type's processor hands them to the driver."""
    dialect = conn.dialect
    columns: dict[str, Any] = dict(zip(names, map(list, zip(*batch, strict=True)), strict=True))
    for name, value in compiled.params.items():
        process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        if name in columns:
            if process is not None:
                columns[name] = list(map(_memoised(process), columns[name]))
        else:
            columns[name] = itertools.repeat(process(value) if process is not None else value)
    return columns


def _rows(columns: dict[str, Any], keys: Sequence[str], count: int) -> Iterable[tuple[Any, ...]]:
    return itertools.islice(zip(*(columns[key] for key in keys), strict=False), count)


def insert_many(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    ignore: bool = False,
    count: int | None = None,
    at_commit: bool = False,
) -> None:
    """Insert rows (values in ``columns`` order); with ``ignore``, rows that conflict are skipped.

    With ``at_commit`` the rows are held and inserted just before the :meth:`Database.write`
    transaction of ``conn`` commits, with every other row held for the same table and columns: one
    multi-row insert per table for all the POSTs sharing a group commit (:func:`_insert_held`),
    where each POST's rows were statements of their own under the write lock. Tables are inserted
    in the order their first row was held (a batch before its searches). For rows nothing reads
    before the commit.

    The statement is compiled once per table, columns and dialect (:func:`_compiled_insert`): a
    POST /phone/single inserts one search, and compiling its insert afresh cost more than running it.

    ``count``, the number of ``rows`` when the caller knows it, lets a ``COPY`` consume them as it
    sends them (``rows`` may then be a generator): PostgreSQL stores the rows already sent while
    the rest are still being built, instead of after the last one.
    """
    if at_commit:
        _hold_for_commit(conn, (table, tuple(columns), ignore), rows)
        return
    compiled = _compiled_insert(conn.dialect, table, tuple(columns), ignore)
    if conn.dialect.name == "postgresql":
        if count is None:
            rows = list(rows)
            count = len(rows)
        if count >= COPY_MIN_ROWS:
            _copy_in(conn, table, columns, _streamed(conn, compiled, columns, rows), ignore=ignore)
            return
    batch = list(rows)
    if batch:
        _execute_compiled(conn, compiled, columns, batch)


PAGE_SIZES = (512, 64, 8, 1)
"""Rows per statement of :func:`insert_new`: any number of rows is cut into pages of these sizes
(3,000 = 5 x 512 + 6 x 64 + 5 x 8), each statement compiled once per dialect."""


def insert_new(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: Iterable[Sequence[Any]], returning: str
) -> list[Any]:
    """Insert rows (values in ``columns`` order), skipping those that conflict with a unique key;
    the ``returning`` column of the rows really inserted (both dialects return only those).

    One multi-row ``INSERT … RETURNING`` per page (:data:`PAGE_SIZES`), compiled once per table,
    columns and size, its values converted by each column's type and run on the driver. SQLAlchemy's
    own multi-row inserts rendered the statement and its parameters afresh for every call, and on
    PostgreSQL psycopg rewrote each such statement's placeholders again (it caches only short ones):
    about a fifth of the worker's time when it recorded a 3,000-search job.
    """
    return _paged(conn, table, tuple(columns), list(rows), returning=returning, ignore=True)


def _paged(
    conn: Connection,
    table: sa.Table,
    columns: tuple[str, ...],
    batch: Sequence[Sequence[Any]],
    *,
    returning: str | None,
    ignore: bool,
    sizes: Sequence[int] = PAGE_SIZES,
) -> list[Any]:
    """``batch`` inserted in pages, as many of each of ``sizes`` (largest first) as fit in what is
    left; the ``returning`` column of the rows inserted (none without it)."""
    inserted: list[Any] = []
    start = 0
    for size in sizes:
        while len(batch) - start >= size:
            page = batch[start : start + size]
            start += size
            inserted.extend(_insert_page(conn, table, columns, page, returning=returning, ignore=ignore))
    return inserted


def _insert_page(
    conn: Connection,
    table: sa.Table,
    columns: tuple[str, ...],
    page: Sequence[Sequence[Any]],
    *,
    returning: str | None,
    ignore: bool,
) -> list[Any]:
    compiled, statement = _page_insert(conn.dialect, table, columns, returning, ignore, len(page))
    converted = _converted_columns(conn, compiled, columns, list(page))
    params = {
        f"{name}_{i}": value
        for name in columns
        for i, value in enumerate(itertools.islice(converted[name], len(page)))
    }
    if returning is None:
        changed_on_driver(conn, statement, params)
        return []
    return [row[0] for row in run_on_driver(conn, statement, params)]


@functools.lru_cache(maxsize=512)
def _page_insert(
    dialect: sa.Dialect,
    table: sa.Table,
    columns: tuple[str, ...],
    returning: str | None,
    ignore: bool,
    size: int,
) -> tuple[SQLCompiler, DriverStatement]:
    """The insert of ``size`` rows (binds ``<column>_<row>``), skipping conflicts with ``ignore``,
    with its one-row form, whose binds carry the columns' types for :func:`_converted_columns`."""
    rows: list[dict[str, Any]] = [
        {name: sa.bindparam(f"{name}_{i}") for name in columns} for i in range(size)
    ]
    many = (insert_ignore(dialect, table) if ignore else sa.insert(table)).values(rows)
    if returning is not None:
        many = many.returning(table.c[returning])
    one = _compiled_insert(dialect, table, columns, ignore)
    return one, for_driver(many.compile(dialect=dialect), dialect)


def insert_one(
    conn: Connection, table: sa.Table, values: Mapping[str, Any], *, at_commit: bool = False
) -> None:
    """Insert one row, ``values`` by column name, through :func:`insert_many`'s statement compiled
    once (a POST's batch and ledger rows: building the insert each time cost more than running it)."""
    insert_many(conn, table, tuple(values), [tuple(values.values())], at_commit=at_commit)


_Held = tuple[sa.Table, tuple[str, ...], bool]


_ROWS_AT_COMMIT = TRANSACTION_STATE + "rows"


def _hold_for_commit(conn: Connection, key: _Held, rows: Iterable[Sequence[Any]]) -> None:
    held: dict[_Held, list[Sequence[Any]]] | None = conn.info.get(_ROWS_AT_COMMIT)
    if held is None:
        held = conn.info[_ROWS_AT_COMMIT] = {}
        before_commit(conn, functools.partial(_insert_held, conn), order=HELD_ROWS_ORDER)
        on_rollback(conn, functools.partial(conn.info.pop, _ROWS_AT_COMMIT, None))
    of_key = held.setdefault(key, [])
    on_rollback(conn, functools.partial(_cut, of_key, len(of_key)))
    of_key.extend(rows)


def _cut(rows: list[Sequence[Any]], mark: int) -> None:
    del rows[mark:]


def _insert_held(conn: Connection) -> None:
    """The rows held by ``insert_many(..., at_commit=True)``: one multi-row insert per table (in
    pages past 64 rows), all sent together (``pipelined``). Each statement lets the interpreter go,
    and in a busy API process getting it back cost more than the statement: SQLite's
    ``executemany`` runs one step a row."""
    held: dict[_Held, list[Sequence[Any]]] = conn.info.pop(_ROWS_AT_COMMIT, {})
    with pipelined(conn):
        for (table, columns, ignore), rows in held.items():
            if not rows:
                continue
            sizes = (len(rows),) if len(rows) <= PAGE_SIZES[1] else PAGE_SIZES
            _paged(conn, table, columns, rows, returning=None, ignore=ignore, sizes=sizes)


def _streamed(
    conn: Connection, compiled: SQLCompiler, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Iterable[Sequence[Any]]:
    """``rows`` converted one by one as :func:`_converted_columns` converts them column by column."""
    dialect = conn.dialect
    processors = [compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    if not any(processors):
        return rows
    converters = [_memoised(process) if process is not None else None for process in processors]
    return (
        tuple(
            value if convert is None else convert(value)
            for convert, value in zip(converters, row, strict=True)
        )
        for row in rows
    )


@functools.lru_cache(maxsize=256)
def _compiled_insert(
    dialect: sa.Dialect, table: sa.Table, columns: tuple[str, ...], ignore: bool
) -> SQLCompiler:
    """The insert of ``columns`` into ``table`` (conflicts skipped with ``ignore``), compiled for
    ``dialect``; kept, as a compiled statement depends on nothing else."""
    base = insert_ignore(dialect, table) if ignore else sa.insert(table)
    statement = base.values({name: sa.bindparam(name) for name in columns})
    return statement.compile(dialect=dialect)


def _copy_in(
    conn: Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    ignore: bool,
) -> None:
    """``COPY`` the rows (converted for the driver) into ``table`` (PostgreSQL), through a temporary
    table when ``ignore``."""
    names = ", ".join(f'"{name}"' for name in columns)
    target = f'"{table.name}"'
    if ignore:
        target = f'"trova_copy_{table.name}"'
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {target} ON COMMIT DROP AS "
            f'SELECT {names} FROM "{table.name}" WITH NO DATA'
        )
    cursor = conn.connection.cursor()
    try:
        with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()
    if ignore:
        copied = sa.table(f"trova_copy_{table.name}", *(sa.column(name) for name in columns))
        conn.execute(insert_ignore(conn, table).from_select(list(columns), sa.select(*copied.c)))
        conn.exec_driver_sql(f"DROP TABLE {target}")


def reserve_ids(conn: Connection, table: sa.Table, count: int) -> list[int]:
    """``count`` fresh ids for ``table``, so rows are inserted in bulk with their ids known up front.

    PostgreSQL draws them from the column's sequence, safe beside any concurrent writer. On SQLite
    a write transaction (``BEGIN IMMEDIATE``) holds the database lock, so nobody else can insert
    between reading the highest id and inserting above it.
    """
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        drawn = conn.execute(
            sa.text(
                f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return sorted(drawn.scalars())
    highest = conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()
    return list(range(highest + 1, highest + 1 + count))


_VERSION_4 = bytes(byte & 0x0F | 0x40 for byte in range(256))
_RFC_4122_VARIANT = bytes(byte & 0x3F | 0x80 for byte in range(256))


def random_uuids(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs as text, as ``str(uuid.uuid4())`` writes them, from one read
    of the system's random source: one ``uuid4()`` a row cost a 3,000-search batch's POST about a
    third of the time its validation did."""
    data = bytearray(os.urandom(16 * count))
    data[6::16] = data[6::16].translate(_VERSION_4)
    data[8::16] = data[8::16].translate(_RFC_4122_VARIANT)
    text = data.hex()
    return [
        f"{text[at : at + 8]}-{text[at + 8 : at + 12]}-{text[at + 12 : at + 16]}-"
        f"{text[at + 16 : at + 20]}-{text[at + 20 : at + 32]}"
        for at in range(0, 32 * count, 32)
    ]


def _memoised(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A bind processor that converts each distinct value once (dates and times repeat a lot)."""
    done: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return done[value]
        except KeyError:
            done[value] = converted = process(value)
            return converted
        except TypeError:
            return process(value)

    return convert
