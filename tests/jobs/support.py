"""Rows the queue tests need: a batch (every job belongs to one) and its queued chunks."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.engine import Connection

from trova.jobs import repository as repo
from trova.store.tables import accounts, batches

NOW = dt.datetime(2026, 5, 1, 12, 0, 0)


def new_batch(conn: Connection, ranges: list[tuple[int, int]]) -> str:
    """A batch row (jobs belong to one) and one queued job per inclusive range."""
    account_id = conn.execute(
        accounts.insert()
        .values(
            name=f"acct-{uuid.uuid4().hex[:8]}",
            key_hash=uuid.uuid4().hex,
            key_prefix="tv_test",
            webhook_secret="whsec_test",
            created_at=NOW,
        )
        .returning(accounts.c.id)
    ).scalar_one()
    batch_id = str(uuid.uuid4())
    conn.execute(
        batches.insert().values(
            id=batch_id,
            account_id=account_id,
            kind="bulk",
            status="ongoing",
            requested=ranges[-1][1] + 1 if ranges else 0,
            price=40,
            reserved_sub=0,
            reserved_paygo=0,
            created_at=NOW,
        )
    )
    if ranges:
        repo.insert_jobs(conn, batch_id, ranges, now=NOW)
    return batch_id
