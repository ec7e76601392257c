"""The queue's SQL on SQLite and PostgreSQL: inserting chunks, claiming under a lease, extending it,
fencing, finishing, attempts and the counts read by the API."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tests.jobs.support import NOW, new_batch
from trova.jobs import repository as repo
from trova.jobs.models import Job
from trova.store import Database
from trova.store.tables import job_attempts, jobs

LEASE = dt.timedelta(seconds=60)


def claim(db: Database, owner: str, *, at: dt.datetime = NOW, limit: int = 1) -> list[Job]:
    with db.write() as conn:
        return repo.claim(conn, owner=owner, limit=limit, now=at, lease_until=at + LEASE)


def job_row(db: Database, job_id: int) -> sa.Row[tuple[object, ...]]:
    with db.read() as conn:
        return conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one()


def attempt_rows(db: Database) -> list[sa.Row[tuple[object, ...]]]:
    with db.read() as conn:
        return list(conn.execute(sa.select(job_attempts).order_by(job_attempts.c.id)).all())


def test_inserted_chunks_are_queued_with_their_ranges_and_sizes(db: Database) -> None:
    with db.write() as conn:
        batch_id = new_batch(conn, [(0, 2), (3, 3)])
    with db.read() as conn:
        rows = conn.execute(sa.select(jobs).order_by(jobs.c.id)).all()
        assert repo.count_active(conn) == {"queued": 2}
        assert repo.count_failed_and_all(conn, batch_id) == (0, 2)
    assert [(r.batch_id, r.kind, r.first_idx, r.last_idx, r.size, r.status, r.attempts) for r in rows] == [
        (batch_id, "resolve", 0, 2, 3, "queued", 0),
        (batch_id, "resolve", 3, 3, 1, "queued", 0),
    ]


def test_claim_takes_the_oldest_queued_jobs_up_to_the_limit_and_opens_an_attempt(db: Database) -> None:
    with db.write() as conn:
        batch_id = new_batch(conn, [(0, 1), (2, 3), (4, 5)])
    first, second = claim(db, "w1", limit=2)
    assert (first.batch_id, first.first_idx, first.last_idx, first.size) == (batch_id, 0, 1, 2)
    assert (second.first_idx, second.last_idx) == (2, 3)
    assert first.id < second.id
    assert (first.attempts, first.lease_owner, first.lease_until) == (1, "w1", NOW + LEASE)
    row = job_row(db, first.id)
    assert (row.status, row.lease_owner, row.lease_until, row.attempts) == ("running", "w1", NOW + LEASE, 1)
    attempts = attempt_rows(db)
    assert [(a.id, a.job_id, a.worker_id, a.started_at, a.outcome) for a in attempts] == [
        (first.attempt_id, first.id, "w1", NOW, None),
        (second.attempt_id, second.id, "w1", NOW, None),
    ]
    (third,) = claim(db, "w2", limit=5)
    assert third.first_idx == 4
    assert claim(db, "w3") == []
    with db.read() as conn:
        assert repo.count_active(conn) == {"running": 3}


def test_a_running_job_is_claimed_again_only_once_its_lease_expired(db: Database) -> None:
    with db.write() as conn:
        new_batch(conn, [(0, 0)])
    (first,) = claim(db, "w1")
    assert claim(db, "w2", at=NOW + LEASE - dt.timedelta(seconds=1)) == []
    later = NOW + LEASE + dt.timedelta(seconds=1)
    (second,) = claim(db, "w2", at=later)
    assert (second.id, second.attempts, second.lease_owner) == (first.id, 2, "w2")
    assert second.attempt_id != first.attempt_id
    assert [a.worker_id for a in attempt_rows(db)] == ["w1", "w2"]


def test_extending_the_lease_keeps_the_job_from_being_claimed(db: Database) -> None:
    with db.write() as conn:
        new_batch(conn, [(0, 0)])
    (job,) = claim(db, "w1")
    with db.write() as conn:
        assert repo.extend_lease(conn, job, lease_until=NOW + 3 * LEASE) is True
    assert job_row(db, job.id).lease_until == NOW + 3 * LEASE
    assert claim(db, "w2", at=NOW + 2 * LEASE) == []


def test_a_lost_claim_is_fenced_out_of_the_lease_and_the_job(db: Database) -> None:
    with db.write() as conn:
        new_batch(conn, [(0, 0)])
    (lost,) = claim(db, "w1")
    (holder,) = claim(db, "w2", at=NOW + 2 * LEASE)
    with db.write() as conn:
        assert repo.still_held(conn, lost) is False
        assert repo.still_held(conn, holder) is True
        assert repo.still_held_of(conn, [lost, holder]) == {holder.id}
        assert repo.extend_lease(conn, lost, lease_until=NOW + 10 * LEASE) is False
    assert job_row(db, holder.id).lease_until == NOW + 3 * LEASE


def test_the_same_owner_claiming_again_is_fenced_by_the_attempt_count(db: Database) -> None:
    with db.write() as conn:
        new_batch(conn, [(0, 0)])
    (old,) = claim(db, "w1")
    (new,) = claim(db, "w1", at=NOW + 2 * LEASE)
    with db.write() as conn:
        assert repo.still_held(conn, old) is False
        assert repo.still_held(conn, new) is True


def test_finish_closes_or_requeues_and_close_attempt_records_the_outcome(db: Database) -> None:
    with db.write() as conn:
        batch_id = new_batch(conn, [(0, 0), (1, 1)])
    done, failing = claim(db, "w1", limit=2)
    later = NOW + dt.timedelta(seconds=5)
    with db.write() as conn:
        repo.finish(conn, done, "done", now=later)
        repo.close_attempt(conn, done, "done", now=later)
        repo.finish(conn, failing, "queued", now=later, error="x" * 3000)
        repo.close_attempt(conn, failing, "error", now=later, error="y" * 3000)
    finished, requeued = job_row(db, done.id), job_row(db, failing.id)
    assert (finished.status, finished.finished_at, finished.lease_owner, finished.lease_until) == (
        "done",
        later,
        None,
        None,
    )
    assert (requeued.status, requeued.finished_at, requeued.lease_owner) == ("queued", None, None)
    assert requeued.last_error == "x" * 2000
    with db.write() as conn:
        assert repo.still_held(conn, done) is False
        assert repo.still_held(conn, failing) is False
    attempts = attempt_rows(db)
    assert [(a.outcome, a.finished_at) for a in attempts] == [("done", later), ("error", later)]
    assert attempts[0].error is None and attempts[1].error == "y" * 2000
    (again,) = claim(db, "w2", at=later)
    assert (again.id, again.attempts) == (failing.id, 2)
    with db.write() as conn:
        repo.finish(conn, again, "failed", now=later)
        assert repo.count_failed_and_all(conn, batch_id) == (1, 2)
        assert repo.count_active(conn) == {}
    given_up = job_row(db, failing.id)
    assert (given_up.status, given_up.finished_at, given_up.last_error) == ("failed", later, "x" * 2000)


def test_recent_timings_are_the_latest_successful_attempts_newest_first(db: Database) -> None:
    with db.write() as conn:
        new_batch(conn, [(0, 9), (10, 14), (15, 15)])
    first, second, third = claim(db, "w", limit=3)
    with db.write() as conn:
        repo.close_attempt(conn, first, "done", now=NOW + dt.timedelta(seconds=2))
        repo.close_attempt(conn, second, "done", now=NOW)
        repo.close_attempt(conn, third, "error", now=NOW + dt.timedelta(seconds=9), error="boom")
        timings = repo.recent_timings(conn)
        assert repo.recent_timings(conn, limit=1) == timings[:1]
    assert [(t.size, t.seconds) for t in timings] == [(5, 0.001), (10, 2.0)]
