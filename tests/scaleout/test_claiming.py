"""Claiming on both databases: the SQL really sent, leases renewed by a long job, the wake-up signal."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from tests.support.statements import statements_sent
from trova.accounts import service as accounts
from trova.batches import service as batches
from trova.batches import step as batch_step
from trova.finder.service import Finder
from trova.jobs import notify
from trova.jobs import repository as jobs_repo
from trova.jobs import service as jobs
from trova.people.models import Answer, Search
from trova.settings import Settings
from trova.store import Database, utcnow
from trova.store.engine import savepoint
from trova.store.tables import jobs as jobs_table
from trova.webhooks import repository as webhooks_repo

SEARCH = {"linkedin_url": "https://www.linkedin.com/in/ada-lovelace"}


def submit_single(db: Database, settings: Settings) -> str:
    with db.write() as conn:
        account = accounts.create_account(conn, "acme", credits=1000).account
        return batches.submit(conn, account, batches.read_single(SEARCH, settings), settings).id


def test_job_and_webhook_claims_skip_locked_rows_on_postgresql(db: Database) -> None:
    now = utcnow()
    until = now + dt.timedelta(seconds=60)
    with statements_sent(db) as sent, db.write() as conn:
        jobs_repo.claim(conn, owner="w", limit=5, now=now, lease_until=until)
        webhooks_repo.claim_due(conn, owner="w", limit=5, now=now, lease_until=until)
    claims = [s for s in sent if s.startswith("UPDATE jobs") or s.startswith("UPDATE webhook_messages")]
    assert len(claims) == 2
    for statement in claims:
        if db.dialect == "postgresql":
            assert "FOR UPDATE SKIP LOCKED" in statement, statement
        else:
            assert "FOR UPDATE" not in statement, statement


def test_submitting_jobs_sends_notify_in_the_same_transaction(db: Database) -> None:
    settings = Settings(database_url=db.url)
    with statements_sent(db) as sent:
        submit_single(db, settings)
    notifies = [s for s in sent if "pg_notify" in s]
    assert len(notifies) == (1 if db.dialect == "postgresql" else 0)


def test_searches_submitted_in_one_transaction_send_one_notify_at_its_end(db: Database) -> None:
    settings = Settings(database_url=db.url)
    with db.write() as conn:
        account = accounts.create_account(conn, "acme", credits=1000).account
    with statements_sent(db) as sent, db.write() as conn:
        for _ in range(3):
            batches.submit(conn, account, batches.read_single(SEARCH, settings), settings)
        with pytest.raises(RuntimeError), savepoint(conn):
            batches.submit(conn, account, batches.read_bulk({"searches": [SEARCH]}, settings), settings)
            raise RuntimeError("undone, and its notify with it")
        sent_before_the_end = list(sent)
    notifies = [s for s in sent if "pg_notify" in s]
    assert len(notifies) == (1 if db.dialect == "postgresql" else 0)
    assert not [s for s in sent_before_the_end if "pg_notify" in s]


def test_a_notify_undone_by_a_savepoint_is_sent_by_the_next_submission(db: Database) -> None:
    settings = Settings(database_url=db.url)
    with db.write() as conn:
        account = accounts.create_account(conn, "acme", credits=1000).account
    with statements_sent(db) as sent, db.write() as conn:
        with pytest.raises(RuntimeError), savepoint(conn):
            batches.submit(conn, account, batches.read_single(SEARCH, settings), settings)
            raise RuntimeError("undone")
        batches.submit(conn, account, batches.read_single(SEARCH, settings), settings)
    assert len([s for s in sent if "pg_notify" in s]) == (1 if db.dialect == "postgresql" else 0)


class LeaseWatchingFinder(Finder):
    """Holds its chunk past the first lease's end, recording whether another worker could claim it."""

    def __init__(self, db: Database, settings: Settings, first_lease_until: dt.datetime) -> None:
        super().__init__(db)
        self.settings = settings
        self.first_lease_until = first_lease_until
        self.stolen: list[int] = []
        self.renewed_until: dt.datetime | None = None

    def resolve_many(self, searches: Sequence[Search]) -> list[Answer]:
        while utcnow() <= self.first_lease_until + dt.timedelta(seconds=0.5):
            time.sleep(0.05)
        with self.db.read() as conn:
            self.renewed_until = conn.execute(sa.select(jobs_table.c.lease_until)).scalar_one()
        self.stolen = [job.id for job in jobs.claim_jobs(self.db, self.settings, "another-worker")]
        return [Answer(person_key=None) for _ in searches]


def test_a_job_longer_than_its_lease_renews_it_and_is_not_taken_over(db: Database) -> None:
    settings = Settings(database_url=db.url, job_lease_s=3)
    submit_single(db, settings)
    (job,) = jobs.claim_jobs(db, settings, "slow-worker")
    finder = LeaseWatchingFinder(db, settings, job.lease_until)
    assert batch_step.process(db, settings, finder, job) is True
    assert finder.renewed_until is not None and finder.renewed_until > job.lease_until
    assert finder.stolen == []


def test_an_expired_lease_is_taken_over(db: Database) -> None:
    settings = Settings(database_url=db.url, job_lease_s=60)
    submit_single(db, settings)
    now = utcnow()
    with db.write() as conn:
        (dead,) = jobs_repo.claim(conn, owner="killed", limit=1, now=now, lease_until=now)
    (taken,) = jobs.claim_jobs(db, settings, "survivor")
    assert (taken.id, taken.attempts, taken.lease_owner) == (dead.id, 2, "survivor")


def test_a_wake_up_during_the_look_for_work_is_not_slept_through() -> None:
    seen = notify.work_generation()
    notify.notify_work()
    started = time.monotonic()
    assert notify.wait_for_work(3600, since=seen) is True
    assert time.monotonic() - started < 60


def test_waiting_workers_are_all_woken() -> None:
    seen = notify.work_generation()
    woken: list[bool] = []

    def wait() -> None:
        woken.append(notify.wait_for_work(3600, since=seen))

    waiters = [threading.Thread(target=wait) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    notify.notify_work()
    for waiter in waiters:
        waiter.join(60)
    assert woken == [True, True, True]


@pytest.mark.postgres
def test_the_listener_relays_a_committed_notify_and_stops(pg_db: Database) -> None:
    db = pg_db
    stop = threading.Event()
    listener = threading.Thread(target=notify.listen_for_work, args=(Settings(), db, stop))
    started = notify.work_generation()
    listener.start()
    try:
        assert notify.wait_for_work(60, since=started), "the listener never connected"
        seen = notify.work_generation()
        submit_single(db, Settings(database_url=db.url))
        assert notify.wait_for_work(60, since=seen), "the committed NOTIFY was not relayed"
    finally:
        stop.set()
        listener.join(30)
    assert not listener.is_alive()
