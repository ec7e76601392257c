"""All SQL of the API layer: the ``Idempotency-Key`` records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.store.tables import idempotency_keys, readiness_probes


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: str
    status_code: int
    body: Any
    created_at: dt.datetime


def get_response(conn: Connection, account_id: int, key: str) -> StoredResponse | None:
    row = conn.execute(
        sa.select(idempotency_keys).where(
            idempotency_keys.c.account_id == account_id, idempotency_keys.c.key == key
        )
    ).first()
    if row is None:
        return None
    return StoredResponse(
        request_hash=row.request_hash,
        status_code=row.status_code,
        body=row.response,
        created_at=row.created_at,
    )


def delete_response(conn: Connection, account_id: int, key: str) -> None:
    conn.execute(
        idempotency_keys.delete().where(
            idempotency_keys.c.account_id == account_id, idempotency_keys.c.key == key
        )
    )


def save_response(
    conn: Connection,
    account_id: int,
    key: str,
    *,
    request_hash: str,
    status_code: int,
    body: Any,
    now: dt.datetime,
) -> None:
    conn.execute(
        idempotency_keys.insert().values(
            account_id=account_id,
            key=key,
            request_hash=request_hash,
            status_code=status_code,
            response=body,
            created_at=now,
        )
    )


def delete_older_than(conn: Connection, cutoff: dt.datetime) -> int:
    """Forget responses recorded before ``cutoff``; returns how many."""
    return int(conn.execute(idempotency_keys.delete().where(idempotency_keys.c.created_at < cutoff)).rowcount)


def write_probe(conn: Connection, name: str, now: dt.datetime) -> None:
    """Rewrite the readiness probe row ``name`` (inserted the first time)."""
    updated = conn.execute(
        sa.update(readiness_probes).where(readiness_probes.c.name == name).values(probed_at=now)
    )
    if updated.rowcount == 0:
        conn.execute(sa.insert(readiness_probes).values(name=name, probed_at=now))
