"""Small SQL helpers shared by the repositories."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

T = TypeVar("T")

IN_LIST_SIZE = 2000
"""Values per ``IN (…)`` list: well under SQLite's bound-parameter limit and PostgreSQL's, and large
enough that a 3,000-search batch needs only a couple of statements per lookup."""


def distinct_slices(values: Iterable[T], size: int = IN_LIST_SIZE) -> Iterator[list[T]]:
    """The distinct ``values``, in first-seen order, as lists of at most ``size`` for ``IN`` clauses."""
    ordered = list(dict.fromkeys(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def ping(conn: Connection) -> None:
    """One trivial statement: the database answers on this connection (``/healthz``)."""
    conn.execute(sa.text("SELECT 1"))
