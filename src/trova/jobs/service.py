"""The worker: claim a chunk under a lease, resolve it with the finder, record it in one transaction.

Crash safety comes from three rules. (1) Work is claimed with a lease; a claim that outlives its
holder (crash, kill -9) is taken again once the lease expires. (2) The results are written in one
transaction that first re-checks the lease on a locked job row (fencing): a worker that lost its
lease discards its work instead of writing it. (3) Every write is keyed: a search takes a result
only while pending, a refund only once per search, a person is charged once per batch.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

from prometheus_client import Counter

from trova.batches import repository as batches_repo
from trova.batches import service as batches
from trova.batches.models import PendingSearch
from trova.errors import TrovaError
from trova.finder.service import Finder
from trova.jobs import repository as repo
from trova.jobs.models import Job
from trova.jobs.notify import notify_work as notify_work
from trova.jobs.notify import wait_for_work, work_generation
from trova.people.models import Answer, Search, SearchOutcome
from trova.privacy.audit import audit_outcomes
from trova.privacy.screening import screen_outcomes
from trova.settings import Settings
from trova.store import Database, utcnow

log = logging.getLogger("trova.jobs")

SEARCHES_RESOLVED = Counter(
    "trova_searches_resolved", "Searches given a result by this process", ["qualification"]
)
JOBS_PROCESSED = Counter("trova_jobs_processed", "Jobs finished by this process", ["outcome"])


def worker_id(slot: int = 0) -> str:
    """A name unique to this worker thread, across hosts, processes and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{slot}:{uuid.uuid4().hex[:8]}"


def claim_jobs(db: Database, settings: Settings, owner: str, limit: int = 1) -> list[Job]:
    now = utcnow()
    with db.write() as conn:
        return repo.claim(
            conn, owner=owner, limit=limit, now=now, lease_until=now + timedelta(seconds=settings.job_lease_s)
        )


class LeaseKeeper:
    """Extends a job's lease every third of its length while a long resolution runs.

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


def read_pending(db: Database, job: Job) -> list[PendingSearch]:
    with db.read() as conn:
        return batches_repo.pending_searches(conn, job.batch_id, job.first_idx, job.last_idx)


def normalised(pending: Sequence[PendingSearch]) -> list[Search | None]:
    """The finder's search for each stored params; ``None`` for one that no longer validates."""
    searches: list[Search | None] = []
    for search in pending:
        try:
            searches.append(batches.normalise(search.params))
        except TrovaError:
            searches.append(None)
    return searches


def resolve(finder: Finder, searches: Sequence[Search | None]) -> list[Answer | None]:
    """One finder call for the whole chunk; unusable searches stay unresolved (not found)."""
    usable = [search for search in searches if search is not None]
    answers = iter(finder.resolve_many(usable)) if usable else iter(())
    return [next(answers) if search is not None else None for search in searches]


def record(
    db: Database,
    job: Job,
    outcomes: Sequence[SearchOutcome],
    *,
    searches: Mapping[str, Search | None] | None = None,
    gave_up: bool = False,
) -> bool:
    """The job step's one write transaction; False (and nothing written) if the lease was lost.

    ``searches`` are the normalised searches the outcomes answer, by search id: the privacy screen
    and the audit trail read their subjects from them instead of normalising the params again.
    """
    now = utcnow()
    with db.write() as conn:
        if not repo.still_held(conn, job):
            repo.close_attempt(conn, job, "lost", now=now)
            return False
        batch = batches_repo.get_batch(conn, job.batch_id)
        pending = batches_repo.pending_searches(
            conn, job.batch_id, job.first_idx, job.last_idx, with_params=False
        )
        still_pending = {search.id for search in pending}
        fresh = [outcome for outcome in outcomes if outcome.search_id in still_pending]
        if gave_up:
            fresh = [SearchOutcome(search_id=search.id, qualification="not_found") for search in pending]
        repo.finish(conn, job, "failed" if gave_up else "done", now=now)
        repo.close_attempt(conn, job, "gave_up" if gave_up else "done", now=now)
        if batch is not None:
            fresh = screen_outcomes(conn, searches or {}, fresh)
            batches.record_outcomes(conn, batch, pending, fresh)
            audit_outcomes(
                conn,
                account_id=batch.account_id,
                batch_id=batch.id,
                searches=searches or {},
                outcomes=fresh,
                now=now,
            )
    for outcome in fresh:
        SEARCHES_RESOLVED.labels(outcome.qualification).inc()
    JOBS_PROCESSED.labels("failed" if gave_up else "done").inc()
    return True


def release_after_error(db: Database, settings: Settings, job: Job, error: str) -> None:
    """Put a failed job back in the queue, or give it up after ``job_max_attempts`` claims."""
    if job.attempts >= settings.job_max_attempts:
        record(db, job, (), gave_up=True)
        return
    now = utcnow()
    with db.write() as conn:
        if repo.still_held(conn, job):
            repo.close_attempt(conn, job, "error", now=now, error=error)
            repo.finish(conn, job, "queued", now=now, error=error)


def process(db: Database, settings: Settings, finder: Finder, job: Job) -> bool:
    """Run one claimed job to its end; True when its results were recorded."""
    if job.attempts > settings.job_max_attempts:
        return record(db, job, (), gave_up=True)
    try:
        with LeaseKeeper(db, settings, job):
            pending = read_pending(db, job)
            searches = normalised(pending)
            answers = resolve(finder, searches)
        by_id = {stored.id: search for stored, search in zip(pending, searches, strict=True)}
        return record(db, job, batches.outcomes_for(pending, answers), searches=by_id)
    except Exception:
        error = traceback.format_exc(limit=5)
        log.exception("job %s of batch %s failed (attempt %s)", job.id, job.batch_id, job.attempts)
        JOBS_PROCESSED.labels("error").inc()
        release_after_error(db, settings, job, error)
        return False


def run_once(db: Database, settings: Settings, finder: Finder, owner: str) -> int:
    """Claim and process at most one job; returns how many were processed (0 when the queue is idle)."""
    claimed = claim_jobs(db, settings, owner)
    for job in claimed:
        process(db, settings, finder, job)
    return len(claimed)


def run_until_idle(
    db: Database, settings: Settings, finder: Finder | None = None, owner: str | None = None
) -> int:
    """Process jobs in this thread until none is claimable (tests and benchmarks)."""
    finder = finder or Finder(db)
    owner = owner or worker_id()
    total = 0
    while processed := run_once(db, settings, finder, owner):
        total += processed
    return total


def worker_loop(
    settings: Settings,
    db: Database,
    stop: threading.Event,
    *,
    slot: int = 0,
    finder_factory: Callable[[Database], Finder] = Finder,
) -> None:
    """Claim and process jobs until ``stop`` is set; when idle, waits for :func:`notify_work` (this
    process, or a PostgreSQL ``NOTIFY`` relayed by ``jobs.notify``) or ``worker_poll_interval_s``,
    whichever comes first. The wake-up generation is read before looking for work, so a
    notification that arrives during the look is not slept through.

    Errors of the claim itself (database restarting, lock timeouts) are logged and retried after
    the poll interval rather than ending the thread.
    """
    finder = finder_factory(db)
    owner = worker_id(slot)
    while not stop.is_set():
        seen = work_generation()
        try:
            if run_once(db, settings, finder, owner):
                continue
        except Exception:
            log.exception("worker %s: claim failed", owner)
            stop.wait(settings.worker_poll_interval_s)
            continue
        if not stop.is_set():
            wait_for_work(settings.worker_poll_interval_s, since=seen)
