"""Engines and transactions, one code path for SQLite and PostgreSQL.

SQLite runs in WAL mode so readers never block the single writer. Write transactions start with
``BEGIN IMMEDIATE``: taking the write lock up front means two writers queue on ``busy_timeout``
instead of both reading and then one failing to upgrade its lock (``database is locked``). Read
transactions use a plain deferred ``BEGIN`` and see one consistent snapshot. A request that reads
with one statement only (:meth:`Database.read_single`) issues no ``BEGIN`` at all: on SQLite the
statement runs in autocommit mode, on PostgreSQL in ``AUTOCOMMIT`` isolation, and the statement
alone is its snapshot; the round trips of ``BEGIN`` and ``COMMIT`` were a tenth of a hot read.

For the processes that serve (``Database(..., unavailable_errors=True)``: ``serve`` and ``worker``),
a database that cannot do the work for a reason that may pass is a
:class:`~trova.errors.DatabaseUnavailable` (the API answers 503 with ``Retry-After``): the write
lock held elsewhere past ``busy_timeout_s`` (:class:`~trova.errors.DatabaseBusy`), a full disk, a
read-only or vanished file, a PostgreSQL server that is down or out of room. Other driver errors
(a missing table, a bad statement) stay what they are: bugs, answered 500. The CLI keeps the
driver's own errors, which it prints as they are.

On SQLite, one write transaction at a time per process and across the processes that write the
file (``store.gate.WriteGate``): the file has one write lock anyway, a thread waiting for it then
waits there without holding a pooled connection, so reads keep their connections while an outside
process holds ``BEGIN EXCLUSIVE``, and the lock passes between processes without SQLite's sleeps.
Within a process, waiting writes are served in arrival order (``store.gate.FifoGate``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import select
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from trova.errors import DatabaseBusy, DatabaseUnavailable
from trova.store.gate import WriteGate

DEFAULT_BUSY_TIMEOUT_S = 60.0
"""How long a write waits for the lock unless told otherwise (the CLI; ``trova serve`` and
``trova worker`` use ``TROVA_DB_BUSY_TIMEOUT_S``)."""
SQLITE_MMAP_BYTES = 1 << 30
"""Reads go through a memory map of the file: pages live once in the OS page cache, shared by every
pooled connection, instead of each connection copying them into its own small cache; on a
million-person store this is what keeps lookups from slowing down with its size."""
_BEGIN_OPTION = "trova_begin"
_AFTER_COMMIT = "trova_after_commit"
_BEFORE_COMMIT = "trova_before_commit"
_SAVEPOINTS = "trova_savepoints"
_ON_ROLLBACK = "trova_on_rollback"
_NO_BEGIN = "none"


def utcnow() -> dt.datetime:
    """Naive UTC: every timestamp in the database is naive UTC, on both dialects."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


_SQLITE_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")
_SQLITE_UNAVAILABLE = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PERM")
_PG_BUSY = ("55P03",)
_PG_UNAVAILABLE = ("53", "08", "57P", "25006")
"""SQLSTATE prefixes: insufficient resources (disk full), connection errors, server shutting down,
read-only transaction (a standby)."""


def unavailable(error: sa.exc.DBAPIError) -> DatabaseUnavailable | None:
    """The :class:`DatabaseUnavailable` that ``error`` means, or None when it is not one (a bug)."""
    original = error.orig
    reason = f"{type(original).__name__}: {original}".strip()
    if isinstance(original, sqlite3.Error):
        name = getattr(original, "sqlite_errorname", "") or ""
        if name.startswith(_SQLITE_BUSY):
            return DatabaseBusy(reason)
        return DatabaseUnavailable(reason) if name.startswith(_SQLITE_UNAVAILABLE) else None
    state = getattr(original, "sqlstate", None)
    if state is None:
        return DatabaseUnavailable(reason) if isinstance(error, sa.exc.OperationalError) else None
    if state.startswith(_PG_BUSY):
        return DatabaseBusy(reason)
    return DatabaseUnavailable(reason) if state.startswith(_PG_UNAVAILABLE) else None


def _install_sqlite_hooks(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        if mode != _NO_BEGIN:
            conn.exec_driver_sql(f"BEGIN {mode}")


def create_engine(url: str, *, pool_size: int = 10, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> Engine:
    """An engine for ``url`` with Trova's connection settings for its dialect; a write waits at most
    ``busy_timeout_s`` for SQLite's write lock, a statement at most that long for a PostgreSQL lock."""
    url = _normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _install_sqlite_hooks(engine, int(busy_timeout_s * 1000))
        return engine
    # Every connection opened is kept (no overflow): an overflow connection is closed as soon as it
    # is returned, so a burst above the pool's size paid a new server process on every checkout.
    engine = sa.create_engine(url, pool_size=2 * pool_size, max_overflow=0)
    _install_postgres_hooks(engine, int(busy_timeout_s * 1000))
    _install_postgres_liveness_check(engine)
    return engine


PG_IDLE_PING_S = 30.0
"""A pooled PostgreSQL connection idle this long is pinged before use whatever its socket says."""
_CHECKED_IN_AT = "trova_checked_in_at"


def _install_postgres_liveness_check(engine: Engine) -> None:
    """Ping a pooled connection at checkout only when it may be dead, instead of on every checkout.

    A server that stops or restarts, or ends the session (``pg_terminate_backend``), sends its
    ``FATAL`` message and closes the socket, so an idle connection it dropped has something to
    read: that costs one ``poll`` here, where a ping (``pool_pre_ping``) cost a round trip to the
    server on every checkout. A readable socket, or one idle past :data:`PG_IDLE_PING_S` (a
    firewall may drop those silently), is pinged; a failed ping is a ``DisconnectionError``, on
    which the pool discards that connection and checks out another, so the request that finds it
    never sees the error.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.pop(_CHECKED_IN_AT, None)
        if checked_in is None:
            return  # a connection just opened
        if time.monotonic() - checked_in < PG_IDLE_PING_S and not _has_input(dbapi_connection):
            return
        try:
            dbapi_connection.execute("SELECT 1").close()
        except Exception as error:
            raise sa.exc.DisconnectionError(f"pooled connection found dead: {error}") from error
        finally:
            _end_implicit_transaction(dbapi_connection)


def _has_input(dbapi_connection: Any) -> bool:
    """True when the server sent something to an idle connection (or closed it): never while it is
    healthy and idle, since the pool keeps no ``LISTEN``ing connection."""
    if dbapi_connection.closed:
        return True
    poller = select.poll()  # not select.select: a busy server's descriptors pass 1024
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _end_implicit_transaction(dbapi_connection: Any) -> None:
    """Roll back the transaction psycopg opened for the ping (outside ``autocommit``)."""
    if not dbapi_connection.closed and not dbapi_connection.autocommit:
        with contextlib.suppress(Exception):
            dbapi_connection.rollback()


def _install_postgres_hooks(engine: Engine, lock_timeout_ms: int) -> None:
    """Every session waits at most ``lock_timeout_ms`` for a lock (a row or table another session
    holds), then fails with ``lock_not_available``: the serving processes answer it as
    :class:`~trova.errors.DatabaseBusy` (503) instead of holding a request and its connection for
    as long as the other session keeps the lock."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        dbapi_connection.execute(f"SET lock_timeout = {lock_timeout_ms}")
        dbapi_connection.autocommit = autocommit


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Call ``callback`` once the :meth:`Database.write` transaction of ``conn`` has committed (never
    if it rolls back): for what must not happen before the change is visible to every reader, such
    as emptying a cache of what the change makes stale."""
    conn.info.setdefault(_AFTER_COMMIT, []).append(callback)


def before_commit(conn: Connection, callback: Callable[[], None], *, order: int = 0) -> None:
    """Call ``callback`` at the very end of the :meth:`Database.write` transaction of ``conn``, in
    it, just before its commit (never if it fails before): for a statement that locks a row other
    transactions wait for, such as an account's balances, so that the row is held for the commit
    only and not while the rest of the transaction runs.

    The callbacks run by ``order``, then as registered: two transactions that lock the same rows
    at their end (a job step refunding several accounts) then lock them in the same order and
    cannot deadlock on them."""
    callbacks: list[tuple[int, Callable[[], None]]] = conn.info.setdefault(_BEFORE_COMMIT, [])
    callbacks.append((order, callback))


TRANSACTION_STATE = "trova_in_transaction:"
"""Prefix of the ``conn.info`` keys that hold what a :meth:`Database.write` transaction keeps in
memory until it ends (rows to insert at its commit, credits taken so far): dropped when it ends,
however it ends, so that nothing reaches the next transaction of the pooled connection."""


def _forget_transaction_state(conn: Connection) -> None:
    conn.info.pop(_ON_ROLLBACK, None)
    for key in [key for key in conn.info if isinstance(key, str) and key.startswith(TRANSACTION_STATE)]:
        del conn.info[key]


def on_rollback(conn: Connection, undo: Callable[[], None]) -> None:
    """Call ``undo`` if a :func:`savepoint` around this call rolls back (the latest registered
    first): for state kept in memory beside the transaction (:data:`TRANSACTION_STATE`), which
    must follow its rows."""
    conn.info.setdefault(_ON_ROLLBACK, []).append(undo)


def _run_before_commit(conn: Connection) -> None:
    for _, callback in sorted(conn.info.pop(_BEFORE_COMMIT, []), key=lambda entry: entry[0]):
        callback()


@contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """A savepoint in the write transaction of ``conn``: if the block raises, what it wrote and the
    :func:`before_commit` and :func:`after_commit` callbacks it registered are undone, its
    :func:`on_rollback` ones called, and the transaction goes on.

    The savepoint's statements go to the driver's connection directly: through SQLAlchemy's
    ``begin_nested`` each cost more CPU than a POST's own statement, and every POST sharing a group
    commit runs in one, under the write lock the others wait for. Should rolling back to it fail,
    the connection is invalidated, so the transaction cannot commit what the block wrote."""
    registered = [conn.info.setdefault(key, []) for key in (_BEFORE_COMMIT, _AFTER_COMMIT)]
    marks = [len(callbacks) for callbacks in registered]
    undos: list[Callable[[], None]] = conn.info.setdefault(_ON_ROLLBACK, [])
    undo_mark = len(undos)
    depth = conn.info[_SAVEPOINTS] = conn.info.get(_SAVEPOINTS, 0) + 1
    name = f"trova_{depth}"
    driver: Any = conn.connection.driver_connection
    try:
        driver.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            for callbacks, mark in zip(registered, marks, strict=True):
                del callbacks[mark:]
            for undo in reversed(undos[undo_mark:]):
                undo()
            del undos[undo_mark:]
            _roll_back_to(conn, name)
            raise
        driver.execute(f"RELEASE SAVEPOINT {name}")
    finally:
        conn.info[_SAVEPOINTS] = depth - 1


def _roll_back_to(conn: Connection, name: str) -> None:
    try:
        conn.connection.driver_connection.execute(f"ROLLBACK TO SAVEPOINT {name}")  # type: ignore[union-attr]
        conn.connection.driver_connection.execute(f"RELEASE SAVEPOINT {name}")  # type: ignore[union-attr]
    except Exception:
        conn.invalidate()


@contextmanager
def _translated(enabled: bool) -> Iterator[None]:
    try:
        yield
    except sa.exc.DBAPIError as error:
        replacement = unavailable(error) if enabled else None
        if replacement is None:
            raise
        raise replacement from error


class Database:
    """One engine and the two ways of using it: :meth:`write` and :meth:`read` transactions.

    The handler or job step that changes state owns its transaction: it opens ``write()`` once and
    passes the connection to every repository function it calls.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        unavailable_errors: bool = False,
    ) -> None:
        self.url = _normalise_url(url)
        self.unavailable_errors = unavailable_errors
        self.busy_timeout_s = busy_timeout_s
        self.engine = create_engine(self.url, pool_size=pool_size, busy_timeout_s=busy_timeout_s)
        self._write_gate = WriteGate(self.engine.url.database) if self.is_sqlite else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success; raises
        :class:`DatabaseBusy` past ``busy_timeout_s`` without the lock (module docstring)."""
        gate = self._write_gate
        if gate is not None and not gate.acquire(self.busy_timeout_s):
            reason = f"another write held the lock for {self.busy_timeout_s}s"
            if self.unavailable_errors:
                raise DatabaseBusy(reason)
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(reason))
        try:
            with (
                _translated(self.unavailable_errors),
                self.engine.connect().execution_options(**{_BEGIN_OPTION: "IMMEDIATE"}) as conn,
            ):
                try:
                    with conn.begin():
                        yield conn
                        _run_before_commit(conn)
                finally:
                    conn.info.pop(_BEFORE_COMMIT, None)
                    _forget_transaction_state(conn)
                    callbacks = conn.info.pop(_AFTER_COMMIT, [])
                for callback in callbacks:
                    callback()
        finally:
            if gate is not None:
                gate.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: one consistent snapshot, never takes the write lock."""
        with _translated(self.unavailable_errors), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def read_single(self) -> Iterator[Connection]:
        """A connection for one read statement, outside any transaction: no ``BEGIN``, no ``COMMIT``.

        Each statement sees the data committed when it starts, so a caller that reads twice gets
        two snapshots: use :meth:`read` wherever two reads must agree."""
        options: dict[str, str] = (
            {_BEGIN_OPTION: _NO_BEGIN} if self.is_sqlite else {"isolation_level": "AUTOCOMMIT"}
        )
        with _translated(self.unavailable_errors), self.engine.connect().execution_options(**options) as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
        if self._write_gate is not None:
            self._write_gate.close()
