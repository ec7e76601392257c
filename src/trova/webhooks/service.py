"""Webhook outbox entry point (minimal until the webhooks issue lands)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.store import utcnow
from trova.store.tables import accounts, webhook_messages


def notify(
    conn: Connection,
    *,
    account_id: int,
    batch_id: str,
    request_url: str | None,
    event: str,
    payload: dict[str, Any],
) -> str | None:
    """Queue ``payload`` for the request's webhook URL, else the account's default; returns the message id.

    Must be called inside the transaction that finishes the search or batch (outbox pattern), so the
    message exists if and only if the state change committed.
    """
    url = request_url or conn.execute(
        sa.select(accounts.c.webhook_url).where(accounts.c.id == account_id)
    ).scalar_one_or_none()
    if not url:
        return None
    message_id = f"msg_{uuid.uuid4().hex}"
    now = utcnow()
    conn.execute(
        webhook_messages.insert().values(
            id=message_id, account_id=account_id, batch_id=batch_id, event=event, url=url,
            payload=payload, status="pending", attempts=0, next_attempt_at=now, created_at=now,
        )
    )
    return message_id
