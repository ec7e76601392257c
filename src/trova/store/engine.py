"""Engines and transactions, one code path for SQLite and PostgreSQL.

SQLite runs in WAL mode so readers never block the single writer. Write transactions start with
``BEGIN IMMEDIATE``: taking the write lock up front means two writers queue on ``busy_timeout``
instead of both reading and then one failing to upgrade its lock (``database is locked``). Read
transactions use a plain deferred ``BEGIN`` and see one consistent snapshot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

SQLITE_BUSY_TIMEOUT_MS = 60_000
SQLITE_MMAP_BYTES = 1 << 30
"""Reads go through a memory map of the file: pages live once in the OS page cache, shared by every
pooled connection, instead of each connection copying them into its own small cache; on a
million-person store this is what keeps lookups from slowing down with its size."""
_BEGIN_OPTION = "trova_begin"


def utcnow() -> dt.datetime:
    """Naive UTC: every timestamp in the database is naive UTC, on both dialects."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def create_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for ``url`` with Trova's connection settings for its dialect."""
    url = _normalise_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _install_sqlite_hooks(engine)
        return engine
    return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


class Database:
    """One engine and the two ways of using it: :meth:`write` and :meth:`read` transactions.

    The handler or job step that changes state owns its transaction: it opens ``write()`` once and
    passes the connection to every repository function it calls.
    """

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = _normalise_url(url)
        self.engine = create_engine(self.url, pool_size=pool_size)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
        with self.engine.connect().execution_options(**{_BEGIN_OPTION: "IMMEDIATE"}) as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: one consistent snapshot, never takes the write lock."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
