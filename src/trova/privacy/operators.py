"""The audit of operator actions taken in the web console: one row per action, in its transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.store import utcnow
from trova.store.tables import operator_actions


@dataclass(frozen=True, slots=True)
class OperatorAction:
    id: int
    token_id: int | None
    action: str
    subject: str | None
    detail: Any
    created_at: dt.datetime


def record(
    conn: Connection, token_id: int | None, action: str, subject: str | None, detail: Any = None
) -> None:
    """Write the audit row of one action (call it in the action's own transaction); ``token_id`` is
    ``None`` for what the public asks (an opt-out request)."""
    conn.execute(
        sa.insert(operator_actions).values(
            token_id=token_id, action=action, subject=subject, detail=detail, created_at=utcnow()
        )
    )


def recent(conn: Connection, limit: int = 50) -> list[OperatorAction]:
    rows = conn.execute(
        sa.select(operator_actions).order_by(operator_actions.c.id.desc()).limit(limit)
    ).all()
    return [
        OperatorAction(r.id, r.token_id, r.action, r.subject, r.detail, r.created_at) for r in rows
    ]
