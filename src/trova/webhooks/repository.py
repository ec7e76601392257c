"""All SQL of the webhooks domain: the outbox (``webhook_messages``) and its ``webhook_attempts``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.store.sql import distinct_slices as _parts
from trova.store.tables import webhook_attempts, webhook_messages
from trova.webhooks.models import Attempt, Message, MessageStatus, Outcome

_m = webhook_messages
_a = webhook_attempts


def _message(row: sa.Row[Any]) -> Message:
    return Message(
        id=row.id,
        account_id=row.account_id,
        batch_id=row.batch_id,
        event=row.event,
        url=row.url,
        payload=row.payload,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        lease_owner=row.lease_owner,
    )


def _attempt(row: sa.Row[Any]) -> Attempt:
    return Attempt(
        id=row.id,
        message_id=row.message_id,
        attempted_at=row.attempted_at,
        status_code=row.status_code,
        latency_ms=row.latency_ms,
        error=row.error,
        response_excerpt=row.response_excerpt,
    )


def insert_message(
    conn: Connection,
    *,
    message_id: str,
    account_id: int,
    batch_id: str | None,
    event: str,
    url: str,
    payload: dict[str, Any],
    now: dt.datetime,
) -> None:
    """Queue one message, due now."""
    conn.execute(
        _m.insert().values(
            id=message_id,
            account_id=account_id,
            batch_id=batch_id,
            event=event,
            url=url,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


def _due(now: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        _m.c.status == "pending",
        _m.c.next_attempt_at <= now,
        sa.or_(_m.c.lease_until.is_(None), _m.c.lease_until < now),
    )


def any_due(conn: Connection, *, now: dt.datetime) -> bool:
    return conn.execute(sa.select(_m.c.id).where(_due(now)).limit(1)).first() is not None


def claim_due(
    conn: Connection, *, owner: str, limit: int, now: dt.datetime, lease_until: dt.datetime
) -> list[Message]:
    """Lease up to ``limit`` due messages to ``owner`` in one statement, oldest due first.

    Due = pending, ``next_attempt_at`` passed, and not leased (or the lease expired: its sender
    died). On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets several senders claim side by side without
    waiting on or double-claiming each other's rows; on SQLite the ``BEGIN IMMEDIATE`` write
    transaction already serialises claimants.
    """
    due = (
        sa.select(_m.c.id)
        .where(_due(now))
        .order_by(_m.c.next_attempt_at, _m.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = conn.execute(
        _m.update()
        .where(_m.c.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_until=lease_until)
        .returning(*_m.c)
    ).all()
    return sorted((_message(row) for row in rows), key=lambda m: (m.next_attempt_at, m.id))


def _text(value: str | None) -> str | None:
    """Text as both databases can store it (PostgreSQL refuses NUL): receivers' bytes end up here."""
    return None if value is None else value.replace("\x00", "\ufffd")


def insert_attempt(conn: Connection, message_id: str, outcome: Outcome) -> None:
    conn.execute(
        _a.insert().values(
            message_id=message_id,
            attempted_at=outcome.attempted_at,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=_text(outcome.error),
            response_excerpt=_text(outcome.response_excerpt),
        )
    )


def mark_delivered(conn: Connection, message_id: str, *, now: dt.datetime) -> None:
    """Delivered, whoever holds the lease: a 2xx is final even from a sender whose lease lapsed."""
    conn.execute(
        _m.update()
        .where(_m.c.id == message_id)
        .values(
            status="delivered",
            attempts=_m.c.attempts + 1,
            delivered_at=now,
            last_error=None,
            lease_owner=None,
            lease_until=None,
        )
    )


def schedule_retry(
    conn: Connection, message_id: str, *, owner: str, next_attempt_at: dt.datetime, error: str
) -> bool:
    """Back to pending at ``next_attempt_at``, only if ``owner`` still holds the lease (fencing)."""
    result = conn.execute(
        _m.update()
        .where(_m.c.id == message_id, _m.c.lease_owner == owner, _m.c.status == "pending")
        .values(
            attempts=_m.c.attempts + 1,
            next_attempt_at=next_attempt_at,
            last_error=_text(error),
            lease_owner=None,
            lease_until=None,
        )
    )
    return result.rowcount == 1


def mark_failed(conn: Connection, message_id: str, *, owner: str, error: str) -> bool:
    """Failed for good, only if ``owner`` still holds the lease (fencing)."""
    result = conn.execute(
        _m.update()
        .where(_m.c.id == message_id, _m.c.lease_owner == owner, _m.c.status == "pending")
        .values(
            status="failed",
            attempts=_m.c.attempts + 1,
            last_error=_text(error),
            lease_owner=None,
            lease_until=None,
        )
    )
    return result.rowcount == 1


def release(conn: Connection, *, owner: str, message_ids: Sequence[str]) -> None:
    """Give back leases without an attempt (a clean shutdown), so the next sender starts at once."""
    if message_ids:
        conn.execute(
            _m.update()
            .where(_m.c.id.in_(list(message_ids)), _m.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


def requeue(conn: Connection, message_id: str, *, now: dt.datetime) -> bool:
    """Make a message due now with a fresh retry schedule, whatever its status; False if unknown."""
    result = conn.execute(
        _m.update()
        .where(_m.c.id == message_id)
        .values(status="pending", attempts=0, next_attempt_at=now, delivered_at=None)
    )
    return result.rowcount == 1


def get_message(conn: Connection, message_id: str) -> Message | None:
    row = conn.execute(sa.select(_m).where(_m.c.id == message_id)).one_or_none()
    return None if row is None else _message(row)


def list_messages(
    conn: Connection, *, account_id: int | None = None, status: MessageStatus | None = None, limit: int = 100
) -> list[Message]:
    """The newest messages first, optionally of one account and/or one status."""
    query = sa.select(_m).order_by(_m.c.created_at.desc(), _m.c.id.desc()).limit(limit)
    if account_id is not None:
        query = query.where(_m.c.account_id == account_id)
    if status is not None:
        query = query.where(_m.c.status == status)
    return [_message(row) for row in conn.execute(query)]


def messages_of_batch(conn: Connection, batch_id: str) -> list[Message]:
    query = sa.select(_m).where(_m.c.batch_id == batch_id).order_by(_m.c.created_at, _m.c.id)
    return [_message(row) for row in conn.execute(query)]


def attempts_of(conn: Connection, message_id: str) -> list[Attempt]:
    query = sa.select(_a).where(_a.c.message_id == message_id).order_by(_a.c.attempted_at, _a.c.id)
    return [_attempt(row) for row in conn.execute(query)]


def attempt_counts(conn: Connection, message_ids: Sequence[str]) -> dict[str, int]:
    """How many attempts each message has had in all (redeliveries included)."""
    if not message_ids:
        return {}
    query = (
        sa.select(_a.c.message_id, sa.func.count())
        .where(_a.c.message_id.in_(list(message_ids)))
        .group_by(_a.c.message_id)
    )
    return {message_id: int(count) for message_id, count in conn.execute(query).all()}


def count_by_status(conn: Connection) -> dict[str, int]:
    query = sa.select(_m.c.status, sa.func.count()).group_by(_m.c.status)
    return {status: int(count) for status, count in conn.execute(query).all()}


# --- privacy: erasure and retention --------------------------------------------------------------



def messages_of_batches(conn: Connection, batch_ids: Sequence[str]) -> list[Message]:
    found: list[Message] = []
    for part in _parts(batch_ids):
        found += [_message(row) for row in conn.execute(sa.select(_m).where(_m.c.batch_id.in_(part)))]
    return found


def replace_payload(conn: Connection, message_id: str, payload: dict[str, Any]) -> None:
    """Overwrite a message's payload (erasure redacts numbers out of it; later attempts send this)."""
    conn.execute(_m.update().where(_m.c.id == message_id).values(payload=payload))


def response_excerpts_of_batches(conn: Connection, batch_ids: Sequence[str]) -> dict[int, str]:
    """Attempt id -> the receiver's stored response excerpt, for every message of the batches."""
    found: dict[int, str] = {}
    for part in _parts(batch_ids):
        rows = conn.execute(
            sa.select(_a.c.id, _a.c.response_excerpt)
            .join(_m, _m.c.id == _a.c.message_id)
            .where(_m.c.batch_id.in_(part), _a.c.response_excerpt.is_not(None))
        )
        found.update((int(row.id), str(row.response_excerpt)) for row in rows)
    return found


def clear_response_excerpts(conn: Connection, attempt_ids: Sequence[int]) -> None:
    if attempt_ids:
        conn.execute(_a.update().where(_a.c.id.in_(list(attempt_ids))).values(response_excerpt=None))


def delete_messages_of_batches(conn: Connection, batch_ids: Sequence[str]) -> int:
    """Delete the messages of the batches with their attempts; returns how many messages went."""
    deleted = 0
    for part in _parts(batch_ids):
        message_ids = sa.select(_m.c.id).where(_m.c.batch_id.in_(part))
        conn.execute(sa.delete(_a).where(_a.c.message_id.in_(message_ids)))
        deleted += conn.execute(sa.delete(_m).where(_m.c.batch_id.in_(part))).rowcount
    return deleted
