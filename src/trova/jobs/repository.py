"""All SQL of the jobs domain: creating chunks, claiming them under a lease, fencing, finishing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.jobs.models import AttemptOutcome, AttemptTiming, Job, JobStatus
from trova.jobs.notify import announce
from trova.store.bulk import execute_many, insert_many
from trova.store.tables import job_attempts, jobs

_JOB_COLUMNS = ("batch_id", "kind", "first_idx", "last_idx", "size", "status", "attempts", "created_at")


def insert_jobs(
    conn: Connection,
    batch_id: str,
    ranges: Sequence[tuple[int, int]],
    *,
    now: dt.datetime,
    at_commit: bool = False,
) -> None:
    """One queued ``resolve`` job per inclusive index range, announced to idle workers at commit
    (``at_commit``: inserted at the transaction's end too)."""
    rows = [(batch_id, "resolve", first, last, last - first + 1, "queued", 0, now) for first, last in ranges]
    insert_many(conn, jobs, _JOB_COLUMNS, rows, count=len(rows), at_commit=at_commit)
    announce(conn)


def _claimable(now: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        jobs.c.status == "queued",
        sa.and_(jobs.c.status == "running", jobs.c.lease_until < now),
    )


def any_claimable(conn: Connection, *, now: dt.datetime) -> bool:
    """True when a job is queued or its lease expired: a read, so that an idle worker woken for
    nothing (another worker took the job) looks without taking the write lock."""
    return conn.execute(sa.select(jobs.c.id).where(_claimable(now)).limit(1)).first() is not None


def claim(
    conn: Connection,
    *,
    owner: str,
    limit: int,
    now: dt.datetime,
    lease_until: dt.datetime,
    max_size: int | None = None,
) -> list[Job]:
    """Take up to ``limit`` jobs that are queued or whose lease expired, oldest first, in one statement
    (only jobs of at most ``max_size`` searches, when given).

    On PostgreSQL the inner ``SELECT … FOR UPDATE SKIP LOCKED`` lets many workers claim at once
    without waiting on each other; SQLite drops the clause and its single writer serialises claims.
    A job whose holder died is claimed again once its lease is over; ``attempts`` counts the claims.
    """
    condition = _claimable(now)
    if max_size is not None:
        condition = sa.and_(condition, jobs.c.size <= max_size)
    claimable = (
        sa.select(jobs.c.id)
        .where(condition)
        .order_by(jobs.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = conn.execute(
        jobs.update()
        .where(jobs.c.id.in_(claimable))
        .values(status="running", lease_owner=owner, lease_until=lease_until, attempts=jobs.c.attempts + 1)
        .returning(
            jobs.c.id, jobs.c.batch_id, jobs.c.first_idx, jobs.c.last_idx, jobs.c.size, jobs.c.attempts
        )
    ).all()
    rows = sorted(rows, key=lambda r: r.id)
    attempt_ids: list[int] = []
    if rows:
        attempt_ids = [
            int(attempt_id)
            for attempt_id in conn.execute(
                job_attempts.insert().returning(job_attempts.c.id, sort_by_parameter_order=True),
                [{"job_id": row.id, "worker_id": owner, "started_at": now} for row in rows],
            ).scalars()
        ]
    return [
        Job(
            id=row.id,
            batch_id=row.batch_id,
            first_idx=row.first_idx,
            last_idx=row.last_idx,
            size=row.size,
            attempts=row.attempts,
            lease_owner=owner,
            lease_until=lease_until,
            attempt_id=attempt_id,
        )
        for row, attempt_id in zip(rows, attempt_ids, strict=True)
    ]


_STILL_HELD = (
    sa.select(jobs.c.id, jobs.c.status, jobs.c.lease_owner, jobs.c.attempts)
    .where(jobs.c.id.in_(sa.bindparam("job_ids", expanding=True)))
    .order_by(jobs.c.id)
    .with_for_update()
)


def still_held(conn: Connection, job: Job) -> bool:
    """Fencing: True if ``job`` is still running under this very claim (:func:`still_held_of`)."""
    return job.id in still_held_of(conn, [job])


def still_held_of(conn: Connection, claimed: Sequence[Job]) -> set[int]:
    """Fencing: the ids of the ``claimed`` jobs still running under this very claim, their rows
    locked (in id order) until commit, in one statement.

    The lock makes a concurrent re-claim wait for this transaction; if someone re-claimed first,
    the owner or the attempt count differs and the caller discards that job's work.
    """
    if not claimed:
        return set()
    by_id = {job.id: job for job in claimed}
    rows = conn.execute(_STILL_HELD, {"job_ids": sorted(by_id)})
    return {
        row.id
        for row in rows
        if row.status == "running"
        and row.lease_owner == by_id[row.id].lease_owner
        and row.attempts == by_id[row.id].attempts
    }


def extend_lease(conn: Connection, job: Job, *, lease_until: dt.datetime) -> bool:
    """Push the lease of a job still held by this claim; False if it was lost."""
    result = conn.execute(
        jobs.update()
        .where(
            jobs.c.id == job.id,
            jobs.c.status == "running",
            jobs.c.lease_owner == job.lease_owner,
            jobs.c.attempts == job.attempts,
        )
        .values(lease_until=lease_until)
    )
    return result.rowcount == 1


_FINISH = (
    jobs.update()
    .where(jobs.c.id == sa.bindparam("job_id"))
    .values(
        status=sa.bindparam("b_status"),
        lease_owner=None,
        lease_until=None,
        finished_at=sa.func.coalesce(sa.bindparam("b_finished_at", type_=sa.DateTime), jobs.c.finished_at),
        last_error=sa.func.coalesce(sa.bindparam("b_error", type_=sa.Text), jobs.c.last_error),
    )
)
"""Built once: a job step finishes up to 256 jobs in one write transaction (a statement built per
call cost several times its run). A bind left None keeps the column as it is."""


def finish(
    conn: Connection, job: Job, status: JobStatus, *, now: dt.datetime, error: str | None = None
) -> None:
    """Close the job (``done``/``failed``) or put it back in the queue (``queued``) after an error."""
    finish_all(conn, [(job, status, error)], now=now)


def finish_all(
    conn: Connection, ended: Sequence[tuple[Job, JobStatus, str | None]], *, now: dt.datetime
) -> None:
    """:func:`finish` each ``(job, status, error)``, in one ``executemany``."""
    execute_many(
        conn,
        _FINISH,
        ("job_id", "b_status", "b_finished_at", "b_error"),
        [
            (job.id, status, now if status in ("done", "failed") else None, _cut(error))
            for job, status, error in ended
        ],
    )


_CLOSE_ATTEMPT = (
    job_attempts.update()
    .where(job_attempts.c.id == sa.bindparam("attempt_id"))
    .values(
        finished_at=sa.bindparam("b_now"), outcome=sa.bindparam("b_outcome"), error=sa.bindparam("b_error")
    )
)


def close_attempt(
    conn: Connection, job: Job, outcome: AttemptOutcome, *, now: dt.datetime, error: str | None = None
) -> None:
    close_attempts(conn, [(job, outcome, error)], now=now)


def close_attempts(
    conn: Connection, closed: Sequence[tuple[Job, AttemptOutcome, str | None]], *, now: dt.datetime
) -> None:
    """Close the current attempt of each ``(job, outcome, error)``, in one ``executemany``."""
    execute_many(
        conn,
        _CLOSE_ATTEMPT,
        ("attempt_id", "b_now", "b_outcome", "b_error"),
        [(job.attempt_id, now, outcome, _cut(error) or None) for job, outcome, error in closed],
    )


def _cut(error: str | None) -> str | None:
    return error[:2000] if error is not None else None


_COUNT_FAILED_AND_ALL = sa.select(sa.func.count().filter(jobs.c.status == "failed"), sa.func.count()).where(
    jobs.c.batch_id == sa.bindparam("batch_id")
)


def count_failed_and_all(conn: Connection, batch_id: str) -> tuple[int, int]:
    """``(failed jobs, all jobs)`` of a batch."""
    row = conn.execute(_COUNT_FAILED_AND_ALL, {"batch_id": batch_id}).one()
    return int(row[0]), int(row[1])


def recent_timings(conn: Connection, *, limit: int = 50) -> list[AttemptTiming]:
    """Duration and size of the latest successful attempts, newest first."""
    rows = conn.execute(
        sa.select(jobs.c.size, job_attempts.c.started_at, job_attempts.c.finished_at)
        .join(jobs, jobs.c.id == job_attempts.c.job_id)
        .where(job_attempts.c.outcome == "done")
        .order_by(job_attempts.c.id.desc())
        .limit(limit)
    ).all()
    return [
        AttemptTiming(
            size=int(row.size), seconds=max((row.finished_at - row.started_at).total_seconds(), 0.001)
        )
        for row in rows
    ]


def count_active(conn: Connection) -> dict[str, int]:
    """Queued and running jobs (read from the status index; finished jobs are not counted)."""
    rows = conn.execute(
        sa.select(jobs.c.status, sa.func.count())
        .where(jobs.c.status.in_(("queued", "running")))
        .group_by(jobs.c.status)
    ).all()
    return {str(row[0]): int(row[1]) for row in rows}


def queue_stalled(conn: Connection, now: dt.datetime, stall_s: float) -> bool:
    """True when a job has been queued for over ``stall_s`` and no job was claimed in that time."""
    since = now - dt.timedelta(seconds=stall_s)
    waiting = conn.execute(
        sa.select(jobs.c.id).where(jobs.c.status == "queued", jobs.c.created_at < since).limit(1)
    ).first()
    if waiting is None:
        return False
    last_claim = conn.execute(sa.select(sa.func.max(job_attempts.c.started_at))).scalar()
    return last_claim is None or last_claim < since
