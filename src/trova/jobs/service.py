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
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class ManyJobStep(JobStep, Protocol):
    """A :class:`JobStep` that can also run several small jobs claimed together
    (:func:`claim_jobs`), so as to record them in one write transaction; the same contract, for
    each job, and their leases kept by the caller. Returns how many were recorded."""

    def run_many(self, jobs: Sequence[Job], /) -> int: ...


def worker_id(slot: int = 0) -> str:
    """A name unique to this worker thread, across hosts, processes and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{slot}:{uuid.uuid4().hex[:8]}"


SMALL_JOB_SIZE = 1
"""A job of at most this many searches (every ``POST /phone/single`` makes one of one search) is
cheap to run: a worker that claims one also claims the small jobs behind it, up to
:data:`SMALL_JOBS_PER_CLAIM`, in the same write transaction. Larger jobs (the chunks of a bulk)
are claimed one at a time, so that the workers share them."""
SMALL_JOBS_PER_CLAIM = 256
"""Not more: their record transaction holds the write lock that the API's POSTs wait for (256
single searches take about 18 ms to record on SQLite, ``bench/job_steps.py``). Not fewer: the API
stores the POSTs that wait together in one transaction (``trova.store.group``), and a worker that
takes fewer at each of its turns at SQLite's write lock falls behind them under 200 connections of
mixed traffic (``bench/api_speed.py``): with 8, thousands of jobs behind one API process; with 64,
1,600 to 2,600 in 15 s behind two (``--workers 2``), where 256 left none."""


def claim_jobs(db: Database, settings: Settings, owner: str, limit: int = 1) -> list[Job]:
    """Claim up to ``limit`` jobs for ``owner`` under a lease of ``job_lease_s``, in one transaction,
    and when the oldest is small (:data:`SMALL_JOB_SIZE`) the small jobs queued behind it too, up
    to :data:`SMALL_JOBS_PER_CLAIM` in all: on SQLite every write transaction takes the one write
    lock of the file, which the API's POSTs wait for.

    Looks first with a read (no write lock) and claims nothing when no job is claimable: every
    idle worker is woken by each submission, and only one of them finds it.
    """
    now = utcnow()
    with db.read_single() as conn:
        if not repo.any_claimable(conn, now=now):
            return []
    lease_until = now + timedelta(seconds=settings.job_lease_s)
    with db.write() as conn:
        claimed = repo.claim(conn, owner=owner, limit=limit, now=now, lease_until=lease_until)
        more = SMALL_JOBS_PER_CLAIM - len(claimed)
        if claimed and more > 0 and all(job.size <= SMALL_JOB_SIZE for job in claimed):
            claimed += repo.claim(
                conn, owner=owner, limit=more, now=now, lease_until=lease_until, max_size=SMALL_JOB_SIZE
            )
        return claimed


@dataclass(slots=True, eq=False)
class _Held:
    db: Database
    settings: Settings
    job: Job
    renewed: float
    """``time.monotonic()`` of the claim or of the last renewal."""


class _Renewer:
    """The one thread of a process that renews the leases its :class:`LeaseKeeper` blocks hold.

    It wakes every few tenths of the shortest lease period and extends each lease held for a third
    of its length since the claim or the last renewal. Started at the first block; a thread per
    step (started and joined for every single search) cost the worker more than the search."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._held: set[_Held] = set()
        self._thread: threading.Thread | None = None

    def add(self, held: Sequence[_Held]) -> None:
        with self._condition:
            self._held.update(held)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)
                self._thread.start()
            self._condition.notify_all()

    def remove(self, held: Sequence[_Held]) -> None:
        with self._condition:
            self._held.difference_update(held)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._held:
                    self._condition.wait()
                period = min(held.settings.job_lease_s for held in self._held) / 3
                self._condition.wait(period / 4)
                now = time.monotonic()
                due = [held for held in self._held if now - held.renewed >= held.settings.job_lease_s / 3]
            for held in due:
                if not self._renew(held):
                    self.remove([held])

    @staticmethod
    def _renew(held: _Held) -> bool:
        try:
            with held.db.write() as conn:
                until = utcnow() + timedelta(seconds=held.settings.job_lease_s)
                if not repo.extend_lease(conn, held.job, lease_until=until):
                    return False
        except Exception:
            log.exception("could not extend the lease of job %s", held.job.id)
        held.renewed = time.monotonic()
        return True


_renewer = _Renewer()


class LeaseKeeper:
    """Extends the leases of ``jobs`` every third of their length while a long step runs.

    Without it a chunk that takes longer than the lease (slow upstream sources) would be claimed
    a second time while still being worked on; fencing keeps that safe but wastes the work. The
    renewals are written by one thread of the process (:class:`_Renewer`), not one per block.
    """

    def __init__(self, db: Database, settings: Settings, *jobs: Job) -> None:
        now = time.monotonic()
        self._held = [_Held(db, settings, job, now) for job in jobs]

    def __enter__(self) -> LeaseKeeper:
        _renewer.add(self._held)
        return self

    def __exit__(self, *exc: object) -> None:
        _renewer.remove(self._held)


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
    """Claim one job (with the small ones behind it, :func:`claim_jobs`) and run them, their leases
    kept meanwhile; returns how many were claimed (0 when the queue is idle)."""
    claimed = claim_jobs(db, settings, owner)
    if len(claimed) == 1:
        step(claimed[0])
    elif claimed:
        with LeaseKeeper(db, settings, *claimed):
            if isinstance(step, ManyJobStep):
                step.run_many(claimed)
            else:
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
