"""Retention: results and audit events are deleted once older than their retention period.

A finished batch whose completion is older than ``TROVA_RESULT_RETENTION_DAYS`` goes with its
searches (params and numbers), jobs and webhook messages, so a GET for it is 404; the ledger keeps
its amounts. Audit events older than ``TROVA_AUDIT_RETENTION_DAYS`` go too. The loop runs inside
every ``trova serve`` / ``trova worker`` process; several processes deleting side by side is safe
(deleting what another already deleted is a no-op).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from trova.batches import repository as batches_repo
from trova.erasure.models import RetentionReport
from trova.privacy import repository as privacy_repo
from trova.settings import Settings
from trova.store import Database, utcnow
from trova.webhooks import repository as webhooks_repo

log = logging.getLogger("trova.privacy")

BATCHES_PER_TRANSACTION = 200
"""Batches deleted per write transaction: short transactions keep the single SQLite writer free
for the API and workers between steps."""
AUDIT_EVENTS_PER_TRANSACTION = 5000


def purge_expired(db: Database, settings: Settings, *, now: dt.datetime | None = None) -> RetentionReport:
    """Delete every expired result and audit event, in short transactions; returns what went."""
    now = now or utcnow()
    results_before = now - dt.timedelta(days=settings.result_retention_days)
    audit_before = now - dt.timedelta(days=settings.audit_retention_days)
    batches = messages = events = 0
    while True:
        with db.write() as conn:
            expired = batches_repo.expired_batches(conn, before=results_before, limit=BATCHES_PER_TRANSACTION)
            if not expired:
                break
            messages += webhooks_repo.delete_messages_of_batches(conn, expired)
            batches += batches_repo.delete_batches(conn, expired)
    while True:
        with db.write() as conn:
            deleted = privacy_repo.delete_audit_before(conn, audit_before, limit=AUDIT_EVENTS_PER_TRANSACTION)
        events += deleted
        if deleted < AUDIT_EVENTS_PER_TRANSACTION:
            break
    return RetentionReport(batches=batches, webhook_messages=messages, audit_events=events)


def retention_loop(settings: Settings, db: Database, stop: threading.Event) -> None:
    """Purge once at start, then every ``TROVA_RETENTION_INTERVAL_S`` until ``stop`` is set.

    A failed pass (database restarting, lock timeout) is logged and tried again at the next interval;
    nothing is lost by waiting, the rows are only deleted later.
    """
    while not stop.is_set():
        try:
            report = purge_expired(db, settings)
            if report.total:
                log.info(
                    "retention: deleted %d batches, %d webhook messages, %d audit events",
                    report.batches,
                    report.webhook_messages,
                    report.audit_events,
                )
        except Exception:
            log.exception("retention pass failed")
        stop.wait(settings.retention_interval_s)
