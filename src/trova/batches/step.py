"""The batch job step: resolve one claimed chunk of a batch with the finder and record it.

The worker loop of ``jobs`` claims a chunk (a job: an index range of one batch) under a lease and
calls a :class:`BatchStep` on it (the :class:`~trova.jobs.service.JobStep` contract). The step
reads the chunk's pending searches, resolves them in one finder call while a
:class:`~trova.jobs.service.LeaseKeeper` renews the lease, and records the outcomes in one write
transaction. Small jobs claimed together (single searches) are read together, resolved in one
finder call per account and recorded in one transaction, each kind of write one statement for all.

Crash safety comes from three rules. (1) Work is claimed with a lease; a claim that outlives its
holder (crash, kill -9) is taken again once the lease expires. (2) The results are written in one
transaction that first re-checks the lease on a locked job row (fencing): a worker that lost its
lease discards its work instead of writing it. (3) Every write is keyed: a search takes a result
only while pending, a refund only once per search, a person is charged once per batch.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import Counter
from sqlalchemy.engine import Connection

from trova import collector
from trova.accounts.service import get_accounts
from trova.batches import outcomes as outcomes_repo
from trova.batches import repository as batches_repo
from trova.batches import service as batches_service
from trova.batches.models import ChunkOutcomes, PendingSearch
from trova.batches.outcomes import IndexRange
from trova.errors import TrovaError
from trova.finder.service import Finder
from trova.finder.upstream import SpendScope, spending_for
from trova.jobs import repository as jobs_repo
from trova.jobs.models import AttemptOutcome, Job
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


@dataclass(frozen=True, slots=True)
class ReadJob:
    """A claimed job's searches that have no result yet, and whose upstream calls they are: the
    account and its monthly upstream budget (None when the batch is gone)."""

    job: Job
    pending: list[PendingSearch]
    scope: SpendScope | None


def read_jobs(db: Database, claimed: Sequence[Job]) -> list[ReadJob]:
    """What :class:`ReadJob` holds for each claimed job, in one read transaction of three
    statements for all of them: on PostgreSQL each statement, and a transaction's ``BEGIN`` and
    ``COMMIT``, is a round trip of its own."""
    with db.read() as conn:
        pending = outcomes_repo.pending_in_ranges(conn, [_range(job) for job in claimed])
        batches = batches_repo.batches_by_id(conn, {job.batch_id for job in claimed})
        accounts = get_accounts(conn, {batch.account_id for batch in batches.values()})
    scopes = {
        batch_id: SpendScope(account.id, account.upstream_budget_per_month)
        for batch_id, batch in batches.items()
        if (account := accounts.get(batch.account_id)) is not None
    }
    return [
        ReadJob(job, searches, scopes.get(job.batch_id))
        for job, searches in zip(claimed, pending, strict=True)
    ]


def _range(job: Job) -> IndexRange:
    return (job.batch_id, job.first_idx, job.last_idx)


def normalised(pending: Sequence[PendingSearch]) -> list[Search | None]:
    """The finder's search for each stored params; ``None`` for one that no longer validates."""
    searches: list[Search | None] = []
    for search in pending:
        try:
            searches.append(batches_service.normalise(search.params))
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
    each, written with their not_found outcome. ``gave_up``: the job is closed as failed and its
    pending searches not found.
    """
    return record_resolved(db, Resolved(job, list(outcomes), dict(searches or {}), list(errors), gave_up))


def record_resolved(db: Database, done: Resolved) -> bool:
    """:func:`record` of a job's :class:`Resolved` outcomes, in a transaction of its own."""
    with db.write() as conn:
        (fresh,) = write_records(conn, [done])
    counted(fresh, gave_up=done.gave_up)
    return fresh is not None


def write_records(conn: Connection, resolved: Sequence[Resolved]) -> list[list[SearchOutcome] | None]:
    """What :func:`record` writes, for several jobs at once, in the caller's transaction: per job,
    the outcomes recorded, or None (and only its attempt closed as lost) when its lease was lost.

    Each kind of write is one statement for all the jobs (the fencing, the re-read of what is still
    pending, the jobs' and attempts' ends, the results, the people charged, the refunds, the
    batches' counts, the audit trail): a worker records up to 256 single searches together, and on
    PostgreSQL every statement waits for a round trip.
    """
    now = utcnow()
    held = jobs_repo.still_held_of(conn, [done.job for done in resolved])
    lost: list[tuple[Job, AttemptOutcome, str | None]] = [
        (done.job, "lost", None) for done in resolved if done.job.id not in held
    ]
    kept = [done for done in resolved if done.job.id in held]
    pending = outcomes_repo.pending_in_ranges(conn, [_range(done.job) for done in kept], with_params=False)
    batches = batches_repo.batches_by_id(conn, {done.job.batch_id for done in kept})
    still_ids = [{search.id for search in still} for still in pending]
    fresh = {
        done.job.id: _fresh(done, still, ids)
        for done, still, ids in zip(kept, pending, still_ids, strict=True)
    }
    outcomes_repo.insert_search_errors(
        conn, [e for done, ids in zip(kept, still_ids, strict=True) for e in _errored(done, ids)], now=now
    )
    jobs_repo.finish_all(
        conn, [(done.job, "failed" if done.gave_up else "done", None) for done in kept], now=now
    )
    jobs_repo.close_attempts(
        conn, [*lost, *((done.job, "gave_up" if done.gave_up else "done", None) for done in kept)], now=now
    )
    searches = {sid: search for done in kept for sid, search in done.searches.items()}
    screened = iter(screen_outcomes(conn, searches, [o for done in kept for o in fresh[done.job.id]]))
    chunks = []
    for done, still in zip(kept, pending, strict=True):
        fresh[done.job.id] = [next(screened) for _ in fresh[done.job.id]]
        if (batch := batches.get(done.job.batch_id)) is not None:
            chunks.append(ChunkOutcomes(batch, still, fresh[done.job.id], job_ran=not done.gave_up))
    batches_service.record_chunks(conn, chunks)
    audit_outcomes(
        conn,
        [(chunk.batch.account_id, chunk.batch.id, outcome) for chunk in chunks for outcome in chunk.outcomes],
        searches=searches,
        now=now,
    )
    return [fresh.get(done.job.id) for done in resolved]


def _fresh(done: Resolved, still: Sequence[PendingSearch], still_ids: Collection[str]) -> list[SearchOutcome]:
    """The job's outcomes for the searches still pending; every one of them not found if it was
    given up."""
    if done.gave_up:
        return [SearchOutcome(search_id=search.id, qualification="not_found") for search in still]
    return [outcome for outcome in done.outcomes if outcome.search_id in still_ids]


def _errored(done: Resolved, still_ids: Collection[str]) -> list[tuple[str, int | None, str]]:
    """The ``search_errors`` rows of the job's searches still pending that raised alone."""
    if done.gave_up:
        return []
    return [(sid, done.job.id, text) for sid, text in done.errors if sid in still_ids]


def counted(fresh: Sequence[SearchOutcome] | None, *, gave_up: bool = False) -> None:
    """The counters of one job of a committed :func:`write_records`."""
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
    """A job's outcomes, ready to record (:func:`record`, :func:`write_records`)."""

    job: Job
    outcomes: list[SearchOutcome]
    searches: dict[str, Search | None]
    errors: list[tuple[str, str]]
    gave_up: bool = False
    raised: str | None = None
    """The first error when every search of the job that could be resolved raised, though resolved
    with other jobs' searches that did not: the job is then retried as a whole, as alone it would
    have been (docs/api.md: only a job whose every search raises is retried)."""


def resolve_read(finder: Finder, read: Sequence[ReadJob]) -> list[Resolved]:
    """Resolve jobs read for one spend scope in one finder call (:func:`resolve_isolated`: a search
    that raises alone fails none of its neighbours, of its job or of another)."""
    searches = [normalised(one.pending) for one in read]
    with spending_for(read[0].scope if read else None):
        resolution = resolve_isolated(finder, [search for group in searches for search in group])
    resolved, start = [], 0
    for one, group in zip(read, searches, strict=True):
        positions = range(start, start + len(group))
        answers = resolution.answers[start : start + len(group)]
        errors = [
            (one.pending[i - start].id, resolution.errors[i]) for i in positions if i in resolution.errors
        ]
        by_id = {stored.id: search for stored, search in zip(one.pending, group, strict=True)}
        usable = sum(search is not None for search in group)
        raised = errors[0][1] if errors and len(errors) == usable else None
        outcomes = batches_service.outcomes_for(one.pending, answers)
        resolved.append(Resolved(one.job, outcomes, by_id, errors, raised=raised))
        start += len(group)
    return resolved


def by_scope(read: Sequence[ReadJob]) -> list[list[ReadJob]]:
    """The jobs read, grouped by spend scope (in the order each scope first appears)."""
    groups: dict[SpendScope | None, list[ReadJob]] = {}
    for one in read:
        groups.setdefault(one.scope, []).append(one)
    return list(groups.values())


def resolve_job(db: Database, finder: Finder, job: Job) -> Resolved:
    """Read a claimed job's pending searches and resolve them (the lease is the caller's to keep)."""
    (resolved,) = resolve_read(finder, read_jobs(db, [job]))
    return resolved


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
    """Run small jobs claimed together (``jobs.claim_jobs``; their leases kept by the caller): read
    in one transaction, resolved in one finder call per account, recorded in one write transaction
    (:func:`write_records`), each fenced in it. Jobs whose reading or resolution fails are handled
    as in :func:`process`, jobs past ``job_max_attempts`` given up in the same transaction, and if
    it fails, each job is recorded in its own.
    Returns how many were recorded.

    On SQLite every write transaction takes the file's one write lock, which the API's POSTs wait
    for; on PostgreSQL every statement is a round trip: one of each for many single searches."""
    over = [job for job in claimed if job.attempts > settings.job_max_attempts]
    runnable = [job for job in claimed if job.attempts <= settings.job_max_attempts]
    ready = [Resolved(job, [], {}, [], gave_up=True) for job in over]
    ready += _resolved_together(db, settings, finder, runnable)
    if not ready:
        return 0
    try:
        with db.write() as conn:
            written = write_records(conn, ready)
    except Exception:
        log.warning("recording %s jobs together failed, recording each alone", len(ready), exc_info=True)
        recorded = 0
        for done in ready:
            try:
                recorded += record_resolved(db, done)
            except Exception:
                _failed(db, settings, done.job)
        return recorded
    for done, fresh in zip(ready, written, strict=True):
        counted(fresh, gave_up=done.gave_up)
    return sum(fresh is not None for fresh in written)


def _resolved_together(
    db: Database, settings: Settings, finder: Finder, claimed: Sequence[Job]
) -> list[Resolved]:
    """The claimed jobs read together and resolved per spend scope; the jobs of a read or a
    scope that fails, and those whose every search raised, are handled as failed (retried or given
    up), the others returned."""
    if not claimed:
        return []
    try:
        read = read_jobs(db, claimed)
    except Exception:
        for job in claimed:
            _failed(db, settings, job)
        return []
    ready: list[Resolved] = []
    for group in by_scope(read):
        try:
            ready += resolve_read(finder, group)
        except Exception:
            for one in group:
                _failed(db, settings, one.job)
    for done in ready:
        if done.raised is not None:
            log.warning(
                "job %s of batch %s: every search raised: %s", done.job.id, done.job.batch_id, done.raised
            )
            JOBS_PROCESSED.labels("error").inc()
            release_after_error(db, settings, done.job, done.raised)
    return [done for done in ready if done.raised is None]


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
        """Run one claimed job to its end (:func:`process`); True when its results were recorded.

        The cyclic garbage collector is paused meanwhile (``trova.collector``): a chunk's rows,
        outcomes and statement parameters, tens of thousands of objects that live until it is
        recorded, made its automatic runs walk them and every older object of the process, which
        doubled the recording of a 3,000-search job."""
        with collector.paused():
            return process(self.db, self.settings, self.finder, job)

    def run_many(self, claimed: Sequence[Job], /) -> int:
        """Run small jobs claimed together (:func:`process_many`), the collector paused as for one
        job; how many were recorded."""
        with collector.paused():
            return process_many(self.db, self.settings, self.finder, claimed)
