"""What a test's code sent to the database (the SQL of every statement, as the server received it),
and how the database plans a statement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, event

from trova.store import Database


@contextmanager
def statements_sent(db: Database) -> Iterator[list[str]]:
    """Every SQL statement ``db`` sends to its server while the block runs, white space collapsed."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def query_plan(conn: Connection, statement: str, parameters: Any = None) -> list[str]:
    """The database's plan of ``statement``, one line per step (SQLite's ``EXPLAIN QUERY PLAN``
    details, PostgreSQL's ``EXPLAIN`` lines), in the transaction and settings of ``conn``."""
    if conn.dialect.name == "sqlite":
        return [str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    return [str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)]
