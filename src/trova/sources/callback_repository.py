"""The SQL of vendor callbacks (``source_callbacks``): a row opened before the vendor is asked, the
payload written by the callback endpoint, read by the search that waits for it.

A callback URL carries a random token (:func:`new_token`, 256 bits); only its SHA-256 is stored, so
the table never holds what would let someone forge a callback. A token is accepted once: a second
delivery (a replay, or the vendor's own retry) finds the payload already there and is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.store.tables import source_callbacks

Delivery = Literal["received", "unknown", "replayed"]


def new_token() -> tuple[str, str]:
    """(the token for the callback URL, its hash for the row)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_callback(conn: Connection, source: str, hashed: str, now: dt.datetime) -> None:
    """The row a callback will be accepted into (written before the vendor is asked)."""
    conn.execute(sa.insert(source_callbacks).values(token_hash=hashed, source=source, created_at=now))


def set_request_id(conn: Connection, hashed: str, request_id: str) -> None:
    """The vendor's id of the request, to poll for its result when the callback does not come."""
    conn.execute(
        sa.update(source_callbacks)
        .where(source_callbacks.c.token_hash == hashed)
        .values(request_id=request_id)
    )


def request_id_of(conn: Connection, hashed: str) -> str | None:
    return conn.execute(
        sa.select(source_callbacks.c.request_id).where(source_callbacks.c.token_hash == hashed)
    ).scalar_one_or_none()


def deliver(conn: Connection, token: str, payload: Any, now: dt.datetime) -> Delivery:
    """Keep a callback's payload, once: ``unknown`` token, or ``replayed`` (already received)."""
    return deliver_hashed(conn, token_hash(token), payload, now)


def deliver_hashed(conn: Connection, hashed: str, payload: Any, now: dt.datetime) -> Delivery:
    """:func:`deliver` by the token's hash (a result polled from the vendor instead of called back)."""
    result = conn.execute(
        sa.update(source_callbacks)
        .where(source_callbacks.c.token_hash == hashed, source_callbacks.c.received_at.is_(None))
        .values(payload=payload, received_at=now)
    )
    if result.rowcount:
        return "received"
    exists = conn.execute(
        sa.select(source_callbacks.c.token_hash).where(source_callbacks.c.token_hash == hashed)
    ).first()
    return "replayed" if exists else "unknown"


def payload_of(conn: Connection, hashed: str) -> Any | None:
    """The payload received for this callback, or None while it has not come."""
    return conn.execute(
        sa.select(source_callbacks.c.payload).where(
            source_callbacks.c.token_hash == hashed, source_callbacks.c.received_at.is_not(None)
        )
    ).scalar_one_or_none()
