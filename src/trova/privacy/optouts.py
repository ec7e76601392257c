"""Opt-out requests from the public page: stored pending, decided by an operator.

A request holds what the person typed until an operator decides; the decision (approve: erasure and
suppression, as ``trova erase``; reject) clears those details and keeps only the status and times.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.store import utcnow
from trova.store.tables import optout_requests

OptoutStatus = Literal["pending", "approved", "rejected"]


@dataclass(frozen=True, slots=True)
class OptoutRequest:
    id: int
    status: str
    details: dict[str, Any] | None
    created_at: dt.datetime


def add(conn: Connection, details: dict[str, str]) -> int:
    result = conn.execute(
        sa.insert(optout_requests)
        .values(status="pending", details=details, created_at=utcnow())
        .returning(optout_requests.c.id)
    )
    return int(result.scalar_one())


def pending(conn: Connection) -> list[OptoutRequest]:
    rows = conn.execute(
        sa.select(optout_requests).where(optout_requests.c.status == "pending").order_by(optout_requests.c.id)
    ).all()
    return [OptoutRequest(r.id, r.status, r.details, r.created_at) for r in rows]


def get_pending(conn: Connection, request_id: int) -> OptoutRequest | None:
    row = conn.execute(
        sa.select(optout_requests).where(
            optout_requests.c.id == request_id, optout_requests.c.status == "pending"
        )
    ).first()
    return None if row is None else OptoutRequest(row.id, row.status, row.details, row.created_at)


def decide(conn: Connection, request_id: int, status: OptoutStatus) -> None:
    """Close a request; its details (what the person typed) are cleared."""
    conn.execute(
        sa.update(optout_requests)
        .where(optout_requests.c.id == request_id)
        .values(status=status, details=None, decided_at=utcnow())
    )
