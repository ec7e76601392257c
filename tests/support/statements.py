"""What a test's code sent to the database: the SQL of every statement, as the server received it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

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
