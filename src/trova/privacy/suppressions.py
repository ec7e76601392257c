"""The suppression list: people and numbers Trova never returns (from any source) and never stores.

Entries are subjects (``models.Subject``), kept as digests; ``privacy.screening`` applies them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.engine import Connection

from trova.errors import SuppressionNotFound
from trova.privacy import repository as repo
from trova.privacy.models import Origin, Subject, Suppression


def suppress(
    conn: Connection,
    subjects: Sequence[Subject],
    *,
    origin: Origin = "manual",
    note: str | None = None,
    now: dt.datetime,
) -> tuple[list[Suppression], list[Suppression]]:
    """Add subjects to the list: ``(entries added, entries already there)``."""
    return repo.add_suppressions(conn, subjects, origin=origin, note=note, now=now)


def list_suppressions(conn: Connection) -> list[Suppression]:
    """Every entry, oldest first."""
    return repo.list_suppressions(conn)


def unsuppress(conn: Connection, entry_id: int) -> Suppression:
    """Remove one entry (the person or number may be returned again); raises when there is none."""
    removed = repo.delete_suppression(conn, entry_id)
    if removed is None:
        raise SuppressionNotFound(f"no suppression entry #{entry_id}")
    return removed
