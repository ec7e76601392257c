"""The queue's worker loop with a step given to it (any ``JobStep``): claiming, running, requeueing."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import sqlalchemy as sa

from tests.jobs.support import new_batch
from trova.jobs import repository as repo
from trova.jobs import service as jobs
from trova.jobs.models import Job
from trova.jobs.notify import notify_work
from trova.settings import Settings
from trova.store import Database, utcnow
from trova.store.migrate import upgrade
from trova.store.tables import job_attempts
from trova.store.tables import jobs as jobs_table

SETTINGS = Settings(job_lease_s=60, worker_poll_interval_s=0.05)


class Recorder:
    """A step that closes every job it is given as done, fenced like the batch step."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.seen: list[Job] = []

    def __call__(self, job: Job, /) -> bool:
        self.seen.append(job)
        with self.db.write() as conn:
            if not repo.still_held(conn, job):
                return False
            repo.finish(conn, job, "done", now=utcnow())
            repo.close_attempt(conn, job, "done", now=utcnow())
        return True


def statuses(db: Database) -> list[str]:
    with db.read() as conn:
        rows = conn.execute(sa.select(jobs_table.c.status).order_by(jobs_table.c.id)).scalars()
        return [str(status) for status in rows]


def test_run_until_idle_gives_every_job_to_the_step_once(db: Database) -> None:
    with db.write() as conn:
        new_batch(conn, [(0, 0), (1, 1), (2, 2)])
    step = Recorder(db)
    assert jobs.run_until_idle(db, SETTINGS, step, owner="w") == 3
    assert [(job.first_idx, job.lease_owner, job.attempts) for job in step.seen] == [
        (0, "w", 1),
        (1, "w", 1),
        (2, "w", 1),
    ]
    assert statuses(db) == ["done", "done", "done"]
    assert jobs.run_once(db, SETTINGS, step, "w") == 0


def test_requeue_puts_a_held_job_back_and_does_nothing_for_a_lost_one(db: Database) -> None:
    with db.write() as conn:
        new_batch(conn, [(0, 0)])
    (job,) = jobs.claim_jobs(db, SETTINGS, "w1")
    assert jobs.requeue(db, job, "boom") is True
    assert statuses(db) == ["queued"]
    (again,) = jobs.claim_jobs(db, SETTINGS, "w2")
    assert again.attempts == 2
    assert jobs.requeue(db, job, "late") is False
    assert statuses(db) == ["running"]
    with db.read() as conn:
        attempts = conn.execute(
            sa.select(job_attempts.c.outcome, job_attempts.c.error).order_by(job_attempts.c.id)
        ).all()
    assert [tuple(attempt) for attempt in attempts] == [("error", "boom"), (None, None)]


def test_the_lease_keeper_renews_the_lease_while_the_step_runs(db: Database) -> None:
    settings = Settings(job_lease_s=0.3)
    with db.write() as conn:
        new_batch(conn, [(0, 0)])
    (job,) = jobs.claim_jobs(db, settings, "slow")
    with jobs.LeaseKeeper(db, settings, job):
        time.sleep(0.5)
        with db.read() as conn:
            renewed = conn.execute(sa.select(jobs_table.c.lease_until)).scalar_one()
    assert renewed > job.lease_until


def test_the_worker_loop_runs_the_step_until_stopped(db: Database) -> None:
    with db.write() as conn:
        new_batch(conn, [(0, 0), (1, 1)])
    step = Recorder(db)
    stop = threading.Event()
    worker = threading.Thread(target=jobs.worker_loop, args=(SETTINGS, db, stop, step))
    worker.start()
    deadline = time.monotonic() + 30
    while statuses(db) != ["done", "done"] and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    notify_work()
    worker.join(10)
    assert not worker.is_alive()
    assert statuses(db) == ["done", "done"] and len(step.seen) == 2


def test_the_worker_loop_backs_off_from_a_database_that_cannot_write(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    writable = Database(sqlite_url)
    upgrade(writable)
    with writable.write() as conn:
        new_batch(conn, [(0, 0)])  # work to claim: an idle worker only reads
    writable.dispose()
    read_only = Database(
        sqlite_url.replace("sqlite:///", "sqlite:///file:") + "?mode=ro&uri=true", unavailable_errors=True
    )
    stop = threading.Event()
    worker = threading.Thread(target=jobs.worker_loop, args=(SETTINGS, read_only, stop, Recorder(read_only)))
    with caplog.at_level(logging.WARNING, logger="trova.jobs"):
        worker.start()
        time.sleep(1.6)
        stop.set()
        notify_work()
        worker.join(10)
    read_only.dispose()
    lines = [record for record in caplog.records if "database unavailable" in record.getMessage()]
    # 0.05 s doubling: tries at 0, 0.05, 0.15, 0.35, 0.75, 1.55 s; without backoff about 30.
    assert 2 <= len(lines) <= 7
    assert all(record.exc_info is None and "readonly" in record.getMessage() for record in lines)


def test_a_claim_of_a_small_job_takes_the_small_jobs_behind_it_and_no_large_one(db: Database) -> None:
    with db.write() as conn:
        new_batch(conn, [(0, 0), (1, 1), (2, 2 + jobs.SMALL_JOB_SIZE), (3 + jobs.SMALL_JOB_SIZE,) * 2])
    first = jobs.claim_jobs(db, SETTINGS, "w")
    assert [job.first_idx for job in first] == [0, 1, 3 + jobs.SMALL_JOB_SIZE]
    assert len({job.attempt_id for job in first}) == 3
    (large,) = jobs.claim_jobs(db, SETTINGS, "w")
    assert large.first_idx == 2
    assert jobs.claim_jobs(db, SETTINGS, "w") == []


def test_a_claim_of_a_large_job_takes_it_alone(db: Database) -> None:
    with db.write() as conn:
        new_batch(conn, [(0, jobs.SMALL_JOB_SIZE), (jobs.SMALL_JOB_SIZE + 1,) * 2])
    assert [job.first_idx for job in jobs.claim_jobs(db, SETTINGS, "w")] == [0]
    assert [job.first_idx for job in jobs.claim_jobs(db, SETTINGS, "w")] == [jobs.SMALL_JOB_SIZE + 1]


def test_an_idle_worker_looks_without_writing(sqlite_url: str) -> None:
    upgrade(Database(sqlite_url))
    read_only = Database(sqlite_url.replace("sqlite:///", "sqlite:///file:") + "?mode=ro&uri=true")
    try:
        assert jobs.claim_jobs(read_only, SETTINGS, "w") == []
    finally:
        read_only.dispose()
