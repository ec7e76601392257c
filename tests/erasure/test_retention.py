"""Retention on both databases: exactly the expired results and audit events go."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.privacy.support import (
    ADA_BY_URL,
    BOB_BY_URL,
    account,
    build_store,
    submit_bulk,
    work,
)
from trova.accounts import service as accounts
from trova.batches import repository as batches_repo
from trova.batches import service as batches
from trova.erasure.retention import purge_expired
from trova.errors import BulkNotFound
from trova.privacy import repository as privacy_repo
from trova.settings import Settings
from trova.store import Database, utcnow
from trova.webhooks import repository as webhooks_repo


def test_retention_deletes_exactly_the_expired_results_and_audit_events(db: Database) -> None:
    build_store(db)
    owner = account(db, "acme")
    old, recent, fresh = (
        submit_bulk(db, owner, [ADA_BY_URL], webhook="http://127.0.0.1:9/h") for _ in range(3)
    )
    work(db)
    ongoing = submit_bulk(db, owner, [BOB_BY_URL])
    now = utcnow()
    with db.write() as conn:
        batches_repo.set_batch_times(
            conn, old, created_at=now - dt.timedelta(days=92), completed_at=now - dt.timedelta(days=91)
        )
        batches_repo.set_batch_times(
            conn, recent, created_at=now - dt.timedelta(days=90), completed_at=now - dt.timedelta(days=89)
        )
        batches_repo.set_batch_times(
            conn, ongoing, created_at=now - dt.timedelta(days=400), completed_at=None
        )
        events = privacy_repo.audit_ids_of(conn, person_keys={"p:1"})
        oldest, older, *_ = sorted(events)
        privacy_repo.set_audit_time(conn, [oldest], now - dt.timedelta(days=366))
        privacy_repo.set_audit_time(conn, [older], now - dt.timedelta(days=364))
        ledger_before = accounts.batch_ledger_totals(conn, old)

    report = purge_expired(db, Settings(result_retention_days=90, audit_retention_days=365), now=now)

    assert (report.batches, report.webhook_messages, report.audit_events) == (1, 1, 1)
    with db.read() as conn:
        with pytest.raises(BulkNotFound):
            batches.get_bulk(conn, owner, old)
        assert all(batches.get_bulk(conn, owner, kept) for kept in (recent, fresh, ongoing))
        assert accounts.batch_ledger_totals(conn, old) == ledger_before
        assert webhooks_repo.messages_of_batch(conn, old) == []
        assert privacy_repo.audit_ids_of(conn, person_keys={"p:1"}) == events - {oldest}
    assert purge_expired(db, Settings(result_retention_days=90), now=now).total == 0
