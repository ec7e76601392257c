"""How the repositories cut long lists of keys or rows into statements, the one place they do.

Every bulk lookup takes a whole batch of keys: the keys are made distinct and cut into slices far
below SQLite's 32,766 bound parameters (PostgreSQL allows 65,535), one ``IN`` (or ``VALUES``) list
per slice (:func:`distinct_slices`); bulk inserts cut their rows the same way (:func:`batches`).

The hot lookups (the finder's, run for every batch of searches) go one step further: their slices
are padded up to a few fixed sizes (:data:`SLICE_SIZES`), so each statement is compiled once per
dialect and size and then run on the driver directly (:func:`run_keyed`, :func:`run_compiled`).
SQLAlchemy would otherwise re-render every ``IN`` or ``VALUES`` list and convert every row, which
costs several times more than SQLite's own work.

The hot point reads of the API (an account by its key's hash, a single search by its id) take the
same road for one row (:func:`first_row`): compiled once per dialect, run on the driver's cursor,
the row's values converted by the columns' own types, so they come back as SQLAlchemy gives them.
A read of many rows whose columns need no conversion (a finished batch's 3,000 results) takes the
same road, its rows as the driver gives them (:func:`driver_rows`).

Writes whose answers are not read (a POST's inserts) can leave together on PostgreSQL, in one round
trip instead of one each (:func:`pipelined`).

On PostgreSQL the compiled statements are handed to psycopg with the server's own ``$1`` placeholders
(a ``RawCursor``): psycopg rewrites ``%(name)s`` placeholders into those on every execution of a
statement over 4,096 characters or 50 parameters (it caches only shorter ones), which for a
512-key lookup cost four times the client's CPU of the rest of the call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

T = TypeVar("T")
R = TypeVar("R")

IN_LIST_SIZE = 2000
"""Values per ``IN (…)`` list: well under SQLite's bound-parameter limit and PostgreSQL's, and large
enough that a 3,000-search batch needs only a couple of statements per lookup."""

SLICE_SIZES = (8, 64, 512)
"""Keys (or name tuples) per compiled statement, padded up to the next size: few statement shapes."""

StatementFor = Callable[[int], sa.Select[Any] | sa.CompoundSelect[Any]]
"""Builds the statement for ``size`` keys, its bound parameters named by the caller (``k0``, …)."""


def distinct_slices(values: Iterable[T], size: int = IN_LIST_SIZE) -> Iterator[list[T]]:
    """The distinct ``values``, in first-seen order, as lists of at most ``size`` for ``IN`` clauses."""
    ordered = list(dict.fromkeys(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def padded_slices(values: Iterable[T]) -> Iterator[list[T]]:
    """:func:`distinct_slices` of at most the largest :data:`SLICE_SIZES`, each padded (with its first
    value) up to the next statement size, so a compiled statement serves every batch."""
    for part in distinct_slices(values, SLICE_SIZES[-1]):
        size = next(size for size in SLICE_SIZES if size >= len(part))
        yield part + [part[0]] * (size - len(part))


def batches(rows: Sequence[T], size: int = IN_LIST_SIZE) -> Iterator[Sequence[T]]:
    """``rows`` as consecutive runs of at most ``size`` (rows of a multi-row ``INSERT``)."""
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def keys_in(column: sa.ColumnElement[Any], size: int) -> sa.ColumnElement[bool]:
    """``column IN (:k0, …, :k{size-1})``, for a statement built by a :data:`StatementFor`."""
    return column.in_([sa.bindparam(f"k{i}", type_=column.type) for i in range(size)])


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A statement compiled once for one dialect, in the form its driver takes it."""

    sql: str
    positions: tuple[str, ...] | None
    """The bound names in the order of the driver's positional placeholders; None: bound by name."""
    defaults: dict[str, Any]
    """The values the statement itself carries, by bound name."""
    numbered: bool = False
    """``sql`` carries PostgreSQL's ``$1`` placeholders, run on a psycopg ``RawCursor``."""

    def bound(self, params: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """``params`` (by bound name; the statement's own values fill the rest) as the driver takes them."""
        values = {**self.defaults, **params}
        return tuple(values[name] for name in self.positions) if self.positions else values


_PYFORMAT_TOKEN = re.compile(r"%%|%\((\w+)\)s|%")


def numbered_placeholders(sql: str) -> tuple[str, tuple[str, ...]] | None:
    """``sql`` written with psycopg's ``%(name)s`` placeholders, rewritten with PostgreSQL's own
    (``$1``, ``$2``, … a name keeping its number) and ``%%`` as ``%``, with the names in number
    order; None when it holds any other ``%`` (it is then left to psycopg)."""
    numbers: dict[str, int] = {}
    stray: list[str] = []

    def rewrite(token: re.Match[str]) -> str:
        name = token.group(1)
        if token.group(0) == "%%":
            return "%"
        if name is None:
            stray.append(token.group(0))
            return token.group(0)
        return f"${numbers.setdefault(name, len(numbers) + 1)}"

    rewritten = _PYFORMAT_TOKEN.sub(rewrite, sql)
    return None if stray else (rewritten, tuple(numbers))


def for_driver(compiled: sa.sql.compiler.Compiled, dialect: sa.Dialect) -> DriverStatement:
    """``compiled`` (for ``dialect``) as its driver takes it: numbered placeholders on psycopg."""
    sql, defaults = str(compiled), dict(compiled.params)
    order = compiled.positiontup if isinstance(compiled, sa.sql.compiler.SQLCompiler) else None
    if order is None and dialect.driver == "psycopg":
        numbered = numbered_placeholders(sql)
        if numbered is not None:
            return DriverStatement(numbered[0], numbered[1], defaults, numbered=True)
    return DriverStatement(sql, tuple(order) if order else None, defaults)


def run_on_driver(conn: Connection, statement: DriverStatement, params: Mapping[str, Any]) -> Sequence[Any]:
    """Every row of ``statement`` for ``params``, run on the driver's cursor of ``conn`` in its
    transaction (:func:`_driver_fetch`), as the driver gives them."""
    return _driver_fetch(conn, statement, params, one=False)[0]


@lru_cache(maxsize=128)
def _compiled(statement_for: StatementFor, size: int, dialect: sa.Dialect) -> DriverStatement:
    return for_driver(statement_for(size).compile(dialect=dialect), dialect)


def run_compiled(
    conn: Connection, statement_for: StatementFor, size: int, params: dict[str, Any]
) -> Sequence[Any]:
    """Execute ``statement_for(size)``, compiled once per dialect and size, on the driver directly.

    Rows come back as the driver gives them (SQLite returns ``DATETIME`` columns as text).
    """
    return run_on_driver(conn, _compiled(statement_for, size, conn.dialect), params)


@dataclass(slots=True)
class _Prepared:
    statement: sa.Select[Any]
    driver: DriverStatement
    processors: tuple[Callable[[Any], Any] | None, ...] | None = None
    """The columns' result conversions, set at the first run (they depend on the driver's column
    types, read from the cursor's description)."""

    def convert(self, dialect: sa.Dialect, description: Sequence[Any], row: Sequence[Any]) -> tuple[Any, ...]:
        processors = self.processors
        if processors is None:
            processors = self.processors = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, described[1])
                for column, described in zip(self.statement.selected_columns, description, strict=True)
            )
        return tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(processors, row, strict=True)
        )


@lru_cache(maxsize=32)
def _prepared(statement: sa.Select[Any], dialect: sa.Dialect) -> _Prepared:
    return _Prepared(statement, for_driver(statement.compile(dialect=dialect), dialect))


def first_row(conn: Connection, statement: sa.Select[Any], params: dict[str, Any]) -> tuple[Any, ...] | None:
    """The first row of ``statement`` (a module-level constant: compiled once per dialect) for
    ``params``, run on the driver's cursor of ``conn``, in the transaction ``conn`` is in (none for
    :meth:`~trova.store.engine.Database.read_single`); values converted as SQLAlchemy would. A driver
    error is raised as SQLAlchemy's (``DBAPIError``), a lost connection invalidated first."""
    prepared, rows, description = _on_cursor(conn, statement, params, one=True)
    return prepared.convert(conn.dialect, description, rows[0]) if rows else None


def driver_rows(conn: Connection, statement: sa.Select[Any], params: dict[str, Any]) -> list[Any]:
    """Every row of ``statement`` (a module-level constant) for ``params``, as :func:`first_row` runs
    it, but as the driver gives them, unconverted: for a read of thousands of rows whose columns
    need no conversion (text, numbers; ``bool()`` of a SQLite flag), SQLAlchemy's result rows cost
    several times the driver's own fetch."""
    return _on_cursor(conn, statement, params, one=False)[1]


def _on_cursor(
    conn: Connection, statement: sa.Select[Any], params: dict[str, Any], *, one: bool
) -> tuple[_Prepared, list[Any], Sequence[Any]]:
    """Run ``statement`` on the driver's cursor of ``conn``: its first row (``one``) or all of them,
    with the cursor's description; a driver error raised as SQLAlchemy's."""
    prepared = _prepared(statement, conn.dialect)
    rows, description = _driver_fetch(conn, prepared.driver, params, one=one)
    return prepared, rows, description


def returned_rows(conn: Connection, statement: sa.Update, params: Mapping[str, Any]) -> Sequence[Any]:
    """The rows ``statement`` (an ``UPDATE … RETURNING`` built once) returns, compiled once per
    dialect and run on the driver's cursor of ``conn``, as the driver gives them. A POST's take of
    its credits: through SQLAlchemy's execution its one statement cost several times SQLite's own
    work, under the write lock."""
    return run_on_driver(conn, _compiled_dml(statement, conn.dialect), params)


def changed_on_driver(conn: Connection, statement: DriverStatement, params: Mapping[str, Any]) -> int:
    """Run ``statement`` on the driver's cursor of ``conn`` in its transaction; the rows it changed."""
    return cast(int, _on_driver(conn, statement, params, lambda cursor: cursor.rowcount))


@lru_cache(maxsize=32)
def _compiled_dml(statement: sa.Update, dialect: sa.Dialect) -> DriverStatement:
    return for_driver(statement.compile(dialect=dialect), dialect)


def _driver_fetch(
    conn: Connection, statement: DriverStatement, params: Mapping[str, Any], *, one: bool
) -> tuple[list[Any], Sequence[Any]]:
    """(the first row (``one``) or every row of ``statement``, the cursor's description), run on a
    cursor of the driver's connection of ``conn`` (:func:`_on_driver`)."""

    def fetched(cursor: Any) -> tuple[list[Any], Sequence[Any]]:
        if one:
            row = cursor.fetchone()
            return ([] if row is None else [row]), cursor.description
        return list(cursor.fetchall()), cursor.description

    return _on_driver(conn, statement, params, fetched)


def _on_driver(
    conn: Connection, statement: DriverStatement, params: Mapping[str, Any], read: Callable[[Any], R]
) -> R:
    """``read(cursor)`` once ``statement`` ran on a cursor of the driver's connection of ``conn`` (a
    psycopg ``RawCursor`` for numbered placeholders); a driver error raised as SQLAlchemy's, a lost
    connection invalidated first."""
    sql, bound = statement.sql, statement.bound(params)
    driver_error: type[Any] = conn.dialect.loaded_dbapi.Error
    cursor = _raw_cursor(conn) if statement.numbered else conn.connection.cursor()
    try:
        cursor.execute(sql, bound)
        return read(cursor)
    except driver_error as error:
        raise _as_sqlalchemy_error(conn, error, sql, bound, cursor) from error
    finally:
        with suppress(driver_error):
            cursor.close()


def _as_sqlalchemy_error(conn: Connection, error: Any, sql: str, params: Any, cursor: Any) -> Exception:
    """The driver's ``error`` as SQLAlchemy raises it (``IntegrityError``, …), ``conn`` invalidated
    first when the error says the connection was lost."""
    lost = conn.dialect.is_disconnect(error, conn.connection.dbapi_connection, cursor)
    if lost:
        conn.invalidate()
    driver_error: type[Exception] = conn.dialect.loaded_dbapi.Error
    wrapped = sa.exc.DBAPIError.instance(sql, params, error, driver_error, connection_invalidated=lost)
    return cast(Exception, wrapped)


@contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """The block's statements sent without waiting for each one's answer, all answers awaited at
    its end: psycopg's pipeline mode on PostgreSQL; on SQLite, which has no round trips, nothing.

    For writes whose answers nobody reads in the block (inserts, ``NOTIFY``): a POST's batch,
    search and job inserts each waited for their own round trip to the server (a send, a wait, the
    thread woken), and PostgreSQL's ``BEGIN`` for one more; together they wait once. A statement's
    error is raised at the end of the block, as SQLAlchemy's, and the block's later statements are
    not run; the caller's transaction then rolls back as for any error. Not for ``COPY`` (psycopg
    cannot pipeline it), nor for statements whose rows or row count are read in the block:
    SQLAlchemy would read them before the answer came.
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    driver: Any = conn.connection.driver_connection
    try:
        with driver.pipeline():
            yield
    except conn.dialect.loaded_dbapi.Error as error:
        raise _as_sqlalchemy_error(conn, error, "(pipelined statements)", None, None) from error


def _raw_cursor(conn: Connection) -> Any:
    import psycopg  # only ever reached on a psycopg connection

    driver: Any = conn.connection.driver_connection
    return psycopg.RawCursor(driver)


def run_keyed(conn: Connection, statement_for: StatementFor, keys: Iterable[Any]) -> Iterator[Any]:
    """The rows of ``statement_for`` (whose keys are bound as ``k0``, ``k1``, …) for every key, one
    statement per :func:`padded_slices` slice."""
    for part in padded_slices(keys):
        yield from run_compiled(conn, statement_for, len(part), {f"k{i}": key for i, key in enumerate(part)})


def ping(conn: Connection) -> None:
    """One trivial statement: the database answers on this connection (``/healthz``)."""
    conn.execute(sa.text("SELECT 1"))
