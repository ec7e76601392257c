"""The durable queue's workers: claim a job under a lease, keep the lease alive, run a step on it.

``jobs`` knows job rows, leases and attempts, never what a job is *for*: the work itself is a
:class:`JobStep` given by the entry point (the batch resolution step lives in ``batches.step``).

Crash safety comes from three rules, split between the queue and the step. (1) Work is claimed
with a lease (:func:`claim_jobs`); a claim that outlives its holder (crash, kill -9) is taken again
once the lease expires, and :class:`LeaseKeeper` renews the lease while a long step runs. (2) The
step writes its results in one transaction that first re-checks the lease on a locked job row
(fencing, ``repository.still_held``): a worker that lost its lease discards its work instead of
writing it. (3) Every write of the step is keyed, so a job run twice writes its results once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta
from typing import Protocol

from trova.errors import DatabaseUnavailable
from trova.jobs import repository as repo
from trova.jobs.models import Job
from trova.jobs.notify import wait_for_work, work_generation
from trova.settings import Settings
from trova.store import Database, utcnow

log = logging.getLogger("trova.jobs")


class JobStep(Protocol):
    """The work done on one claimed job: the worker loop's only collaborator.

    ``step(job)`` is called with a job this worker has just claimed (``job.attempts`` counts the
    claims so far, this one included) and returns when the job is over for this claim: True when
    its results were recorded, False otherwise (lease lost, or failed and put back in the queue).

    The loop relies on the step to:

    * **not raise**: an error of the work is the step's to handle, by putting the job back in the
      queue (:func:`requeue`) or giving it up; an exception that escapes is logged by
      :func:`worker_loop` as a failed claim, and the job waits for its lease to expire;
    * **keep the lease** while it works past ``job_lease_s`` (:class:`LeaseKeeper`);
    * **fence its writes**: one write transaction that first calls ``repository.still_held`` on
      the job and writes nothing if the claim was lost, then closes the job
      (``repository.finish``) and its attempt (``repository.close_attempt``) in that transaction;
    * **key its writes**, so that a job processed twice (a lease that expired mid-step) has its
      results written once.
    """

    def __call__(self, job: Job, /) -> bool: ...


def worker_id(slot: int = 0) -> str:
    """A name unique to this worker thread, across hosts, processes and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{slot}:{uuid.uuid4().hex[:8]}"


def claim_jobs(db: Database, settings: Settings, owner: str, limit: int = 1) -> list[Job]:
    """Claim up to ``limit`` jobs for ``owner`` under a lease of ``job_lease_s``, in one transaction."""
    now = utcnow()
    with db.write() as conn:
        return repo.claim(
            conn, owner=owner, limit=limit, now=now, lease_until=now + timedelta(seconds=settings.job_lease_s)
        )


class LeaseKeeper:
    """Extends a job's lease every third of its length while a long step runs.

    Without it a chunk that takes longer than the lease (slow upstream sources) would be claimed
    a second time while still being worked on; fencing keeps that safe but wastes the work.
    """

    def __init__(self, db: Database, settings: Settings, job: Job) -> None:
        self._db, self._settings, self._job = db, settings, job
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job.id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        period = self._settings.job_lease_s / 3
        while not self._stop.wait(period):
            try:
                with self._db.write() as conn:
                    until = utcnow() + timedelta(seconds=self._settings.job_lease_s)
                    if not repo.extend_lease(conn, self._job, lease_until=until):
                        return
            except Exception:
                log.exception("could not extend the lease of job %s", self._job.id)


def requeue(db: Database, job: Job, error: str) -> bool:
    """Put a job that failed back in the queue, fenced: nothing happens if the claim was lost.

    Closes the attempt as ``error`` and the job as ``queued``, keeping ``error`` on both; True when
    the job was put back.
    """
    now = utcnow()
    with db.write() as conn:
        if not repo.still_held(conn, job):
            return False
        repo.close_attempt(conn, job, "error", now=now, error=error)
        repo.finish(conn, job, "queued", now=now, error=error)
        return True


def run_once(db: Database, settings: Settings, step: JobStep, owner: str) -> int:
    """Claim and run at most one job; returns how many were claimed (0 when the queue is idle)."""
    claimed = claim_jobs(db, settings, owner)
    for job in claimed:
        step(job)
    return len(claimed)


def run_until_idle(db: Database, settings: Settings, step: JobStep, owner: str | None = None) -> int:
    """Run jobs in this thread until none is claimable (tests and benchmarks)."""
    owner = owner or worker_id()
    total = 0
    while processed := run_once(db, settings, step, owner):
        total += processed
    return total


def worker_loop(
    settings: Settings, db: Database, stop: threading.Event, step: JobStep, *, slot: int = 0
) -> None:
    """Claim and run jobs until ``stop`` is set; when idle, waits for :func:`notify_work` (this
    process, or a PostgreSQL ``NOTIFY`` relayed by ``jobs.notify``) or ``worker_poll_interval_s``,
    whichever comes first. The wake-up generation is read before looking for work, so a
    notification that arrives during the look is not slept through.

    Errors (database restarting, locked, full or read-only) never end the thread: the loop backs
    off (:func:`backoff_s`, doubling up to ``MAX_BACKOFF_S``) instead of spinning on a database
    that cannot take the work, and a database that cannot serve is one line, not a traceback.
    """
    owner = worker_id(slot)
    failures = 0
    while not stop.is_set():
        seen = work_generation()
        try:
            claimed = run_once(db, settings, step, owner)
        except DatabaseUnavailable as error:
            failures += 1
            log.warning(
                "worker %s: database unavailable, retrying in %.1fs: %s",
                owner,
                backoff_s(settings, failures),
                error.reason,
            )
            stop.wait(backoff_s(settings, failures))
            continue
        except Exception:
            failures += 1
            log.exception("worker %s: job failed, retrying in %.1fs", owner, backoff_s(settings, failures))
            stop.wait(backoff_s(settings, failures))
            continue
        failures = 0
        if not claimed and not stop.is_set():
            wait_for_work(settings.worker_poll_interval_s, since=seen)


MAX_BACKOFF_S = 30.0


def backoff_s(settings: Settings, failures: int) -> float:
    """The wait after ``failures`` failed rounds in a row: the poll interval, doubled each time."""
    return float(min(MAX_BACKOFF_S, settings.worker_poll_interval_s * 2 ** min(failures - 1, 16)))
