"""The batch job step: resolve one claimed chunk of a batch with the finder and record it.

The worker loop of ``jobs`` claims a chunk (a job: an index range of one batch) under a lease and
calls a :class:`BatchStep` on it (the :class:`~trova.jobs.service.JobStep` contract). The step
reads the chunk's pending searches, resolves them in one finder call while a
:class:`~trova.jobs.service.LeaseKeeper` renews the lease, and records the outcomes in one write
transaction.

Crash safety comes from three rules. (1) Work is claimed with a lease; a claim that outlives its
holder (crash, kill -9) is taken again once the lease expires. (2) The results are written in one
transaction that first re-checks the lease on a locked job row (fencing): a worker that lost its
lease discards its work instead of writing it. (3) Every write is keyed: a search takes a result
only while pending, a refund only once per search, a person is charged once per batch.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import Counter
from sqlalchemy.engine import Connection

from trova.accounts.service import get_account
from trova.batches import repository as batches_repo
from trova.batches import service as batches
from trova.batches.models import PendingSearch
from trova.errors import TrovaError
from trova.finder.service import Finder
from trova.finder.upstream import SpendScope, spending_for
from trova.jobs import repository as jobs_repo
from trova.jobs.models import Job
from trova.jobs.service import LeaseKeeper, requeue
from trova.people.models import Answer, Search, SearchOutcome
from trova.privacy.audit import audit_outcomes
from trova.privacy.screening import screen_outcomes
from trova.settings import Settings
from trova.store import Database, utcnow

log = logging.getLogger("trova.jobs")

SEARCHES_RESOLVED = Counter(
    "trova_searches_resolved", "Searches given a result by this process", ["qualification"]
)
MAX_ERROR_CHARS = 500
"""A search's recorded error text is cut to this length."""

JOBS_PROCESSED = Counter("trova_jobs_processed", "Jobs finished by this process", ["outcome"])


def read_job(db: Database, job: Job) -> tuple[list[PendingSearch], SpendScope | None]:
    """The searches of the job's index range that have no result yet, and the account its upstream
    calls are for with its monthly upstream budget, in one read transaction: a single search's job
    is a few statements, and on PostgreSQL a transaction's ``BEGIN`` and ``COMMIT`` are round trips
    of their own."""
    with db.read() as conn:
        pending = batches_repo.pending_searches(conn, job.batch_id, job.first_idx, job.last_idx)
        batch = batches_repo.get_batch(conn, job.batch_id)
        account = get_account(conn, batch.account_id) if batch is not None else None
    scope = SpendScope(account.id, account.upstream_budget_per_month) if account is not None else None
    return pending, scope


def normalised(pending: Sequence[PendingSearch]) -> list[Search | None]:
    """The finder's search for each stored params; ``None`` for one that no longer validates."""
    searches: list[Search | None] = []
    for search in pending:
        try:
            searches.append(batches.normalise(search.params))
        except TrovaError:
            searches.append(None)
    return searches


@dataclass(slots=True)
class Resolution:
    """The finder's answer for each search of a chunk, and the error of each search that raised."""

    answers: list[Answer | None]
    errors: dict[int, str]
    """Position in the chunk -> the error text of a search that raised on its own (answered None)."""


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]


def resolve_isolated(finder: Finder, searches: Sequence[Search | None]) -> Resolution:
    """The chunk's answers, one search never failing its neighbours.

    One finder call for the whole chunk; if it raises, the chunk is split in halves and each half
    resolved again, down to the single searches that raise on their own: each of those is answered
    ``None`` (not found, refunded) with its error. If every search raises (the finder itself is
    failing: a database or upstream outage), the first error is raised and the job is retried.
    """
    usable = {i: search for i, search in enumerate(searches) if search is not None}
    positions = list(usable)
    answers: list[Answer | None] = [None] * len(searches)
    errors: dict[int, str] = {}
    first_error: list[Exception] = []

    def run(group: list[int]) -> None:
        try:
            got = finder.resolve_many([usable[i] for i in group])
        except Exception as error:
            if not first_error:
                first_error.append(error)
            if len(group) == 1:
                errors[group[0]] = _error_text(error)
                return
            middle = len(group) // 2
            run(group[:middle])
            run(group[middle:])
            return
        for i, answer in zip(group, got, strict=True):
            answers[i] = answer

    if positions:
        run(positions)
    if positions and len(errors) == len(positions):
        raise first_error[0]
    for i, text in errors.items():
        log.warning("search %s of the chunk raised while resolved, answered not found: %s", i, text)
    return Resolution(answers, errors)


def resolve(finder: Finder, searches: Sequence[Search | None]) -> list[Answer | None]:
    """The chunk's answers (:func:`resolve_isolated`); unusable searches stay unresolved (not found)."""
    return resolve_isolated(finder, searches).answers


def record(
    db: Database,
    job: Job,
    outcomes: Sequence[SearchOutcome],
    *,
    searches: Mapping[str, Search | None] | None = None,
    errors: Sequence[tuple[str, str]] = (),
    gave_up: bool = False,
) -> bool:
    """The job step's one write transaction; False (and nothing written) if the lease was lost.

    ``searches`` are the normalised searches the outcomes answer, by search id: the privacy screen
    and the audit trail read their subjects from them instead of normalising the params again.
    ``errors`` are (search id, error text) of searches that raised alone: one ``search_errors`` row
    each, written with their not_found outcome.
    """
    with db.write() as conn:
        fresh = write_record(conn, job, outcomes, searches=searches, errors=errors, gave_up=gave_up)
    counted(fresh, gave_up=gave_up)
    return fresh is not None


def write_record(
    conn: Connection,
    job: Job,
    outcomes: Sequence[SearchOutcome],
    *,
    searches: Mapping[str, Search | None] | None = None,
    errors: Sequence[tuple[str, str]] = (),
    gave_up: bool = False,
) -> list[SearchOutcome] | None:
    """What :func:`record` writes, in the caller's transaction: the outcomes recorded, or None (and
    only the attempt closed as lost) when the lease was lost."""
    now = utcnow()
    if not jobs_repo.still_held(conn, job):
        jobs_repo.close_attempt(conn, job, "lost", now=now)
        return None
    batch = batches_repo.get_batch(conn, job.batch_id)
    pending = batches_repo.pending_searches(
        conn, job.batch_id, job.first_idx, job.last_idx, with_params=False
    )
    still_pending = {search.id for search in pending}
    fresh = [outcome for outcome in outcomes if outcome.search_id in still_pending]
    if gave_up:
        fresh = [SearchOutcome(search_id=search.id, qualification="not_found") for search in pending]
    errored = [(sid, text) for sid, text in errors if sid in still_pending and not gave_up]
    batches_repo.insert_search_errors(conn, errored, job_id=job.id, now=now)
    jobs_repo.finish(conn, job, "failed" if gave_up else "done", now=now)
    jobs_repo.close_attempt(conn, job, "gave_up" if gave_up else "done", now=now)
    if batch is not None:
        fresh = screen_outcomes(conn, searches or {}, fresh)
        batches.record_outcomes(conn, batch, pending, fresh, job_ran=not gave_up)
        audit_outcomes(
            conn,
            account_id=batch.account_id,
            batch_id=batch.id,
            searches=searches or {},
            outcomes=fresh,
            now=now,
        )
    return fresh


def counted(fresh: Sequence[SearchOutcome] | None, *, gave_up: bool = False) -> None:
    """The counters of a committed :func:`write_record`."""
    if fresh is None:
        return
    for outcome in fresh:
        SEARCHES_RESOLVED.labels(outcome.qualification).inc()
    JOBS_PROCESSED.labels("failed" if gave_up else "done").inc()


def release_after_error(db: Database, settings: Settings, job: Job, error: str) -> None:
    """Put a failed job back in the queue, or give it up after ``job_max_attempts`` claims."""
    if job.attempts >= settings.job_max_attempts:
        record(db, job, (), gave_up=True)
        return
    requeue(db, job, error)


@dataclass(frozen=True, slots=True)
class Resolved:
    """A job's outcomes, ready to record (:func:`record`, :func:`write_record`)."""

    job: Job
    outcomes: list[SearchOutcome]
    searches: dict[str, Search | None]
    errors: list[tuple[str, str]]


def resolve_job(db: Database, finder: Finder, job: Job) -> Resolved:
    """Read a claimed job's pending searches and resolve them (the lease is the caller's to keep)."""
    pending, scope = read_job(db, job)
    searches = normalised(pending)
    with spending_for(scope):
        resolution = resolve_isolated(finder, searches)
    by_id = {stored.id: search for stored, search in zip(pending, searches, strict=True)}
    errors = [(pending[i].id, text) for i, text in sorted(resolution.errors.items())]
    return Resolved(job, batches.outcomes_for(pending, resolution.answers), by_id, errors)


def _failed(db: Database, settings: Settings, job: Job) -> None:
    error = traceback.format_exc(limit=5)
    log.exception("job %s of batch %s failed (attempt %s)", job.id, job.batch_id, job.attempts)
    JOBS_PROCESSED.labels("error").inc()
    release_after_error(db, settings, job, error)


def process(db: Database, settings: Settings, finder: Finder, job: Job) -> bool:
    """Run one claimed job to its end; True when its results were recorded."""
    if job.attempts > settings.job_max_attempts:
        return record(db, job, (), gave_up=True)
    try:
        with LeaseKeeper(db, settings, job):
            done = resolve_job(db, finder, job)
        return record(db, job, done.outcomes, searches=done.searches, errors=done.errors)
    except Exception:
        _failed(db, settings, job)
        return False


def process_many(db: Database, settings: Settings, finder: Finder, claimed: Sequence[Job]) -> int:
    """Run small jobs claimed together (``jobs.claim_jobs``; their leases kept by the caller): each
    resolved on its own, all recorded in one write transaction, each fenced in it; a job that fails
    alone is handled as in :func:`process`, and if the shared transaction fails, each job is
    recorded in its own. Returns how many were recorded.

    On SQLite every write transaction takes the file's one write lock, which the API's POSTs wait
    for: one for many single searches instead of one each."""
    ready: list[Resolved] = []
    recorded = 0
    for job in claimed:
        if job.attempts > settings.job_max_attempts:
            recorded += record(db, job, (), gave_up=True)
            continue
        try:
            ready.append(resolve_job(db, finder, job))
        except Exception:
            _failed(db, settings, job)
    if not ready:
        return recorded
    try:
        with db.write() as conn:
            written = [
                write_record(conn, done.job, done.outcomes, searches=done.searches, errors=done.errors)
                for done in ready
            ]
    except Exception:
        log.warning("recording %s jobs together failed, recording each alone", len(ready), exc_info=True)
        for done in ready:
            try:
                recorded += record(db, done.job, done.outcomes, searches=done.searches, errors=done.errors)
            except Exception:
                _failed(db, settings, done.job)
        return recorded
    for fresh in written:
        counted(fresh)
    return recorded + sum(fresh is not None for fresh in written)


@dataclass(frozen=True, slots=True)
class BatchStep:
    """The batch job step bound to its database, settings and finder: a ``jobs`` ``JobStep``.

    ``finder`` is built by the entry point (``runtime`` gives each worker thread its own, with the
    upstream waterfall configured in the settings).
    """

    db: Database
    settings: Settings
    finder: Finder

    def __call__(self, job: Job, /) -> bool:
        """Run one claimed job to its end (:func:`process`); True when its results were recorded."""
        return process(self.db, self.settings, self.finder, job)

    def run_many(self, claimed: Sequence[Job], /) -> int:
        """Run small jobs claimed together (:func:`process_many`); how many were recorded."""
        return process_many(self.db, self.settings, self.finder, claimed)
