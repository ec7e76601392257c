"""Submitting batches and single searches, recording their results, and reading them back.

A single search is a batch of kind ``single`` holding one search whose id is the batch id, so both
endpoints share one storage, one worker path and one credit rule.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from trova.accounts import service as accounts
from trova.accounts.models import Account, SearchRefund, Split
from trova.batches import lookups
from trova.batches import outcomes as outcomes_repo
from trova.batches import repository as repo
from trova.batches.events import single_result
from trova.batches.models import (
    BULK_EVENT,
    SINGLE_EVENT,
    Batch,
    BatchStats,
    BatchStatus,
    BulkReport,
    ChunkOutcomes,
    NewSearch,
    PendingSearch,
    SearchRow,
    Submission,
    Submitted,
)
from trova.errors import (
    BulkNotFound,
    InvalidJson,
    InvalidLinkedinUrl,
    InvalidSearch,
    InvalidWebhookUrl,
    MissingMandatoryProperty,
    NoSearches,
    SearchNotFound,
    TooManySearches,
)
from trova.jobs import repository as jobs_repo
from trova.people.models import Answer, Search, SearchOutcome
from trova.people.normalise import SEARCH_FIELDS, search_from_params
from trova.settings import Settings
from trova.store import utcnow
from trova.store.bulk import random_uuids
from trova.webhooks.guard import validate_submitted_url
from trova.webhooks.service import notify, webhook_urls

DEFAULT_SEARCHES_PER_MIN = 6000.0
"""Throughput assumed for ``estimated_duration`` until workers have finished some jobs."""

_ECHO_EXCLUDED = frozenset({"custom", "settings"})

# --- reading requests ----------------------------------------------------------------------------


def _webhook_of(body: Mapping[str, Any], settings: Settings) -> str | None:
    """``settings.webhook`` when given: an absolute https URL (http only when allowed), else 400."""
    request_settings = body.get("settings")
    if request_settings is None:
        return None
    if not isinstance(request_settings, Mapping):
        raise InvalidWebhookUrl()
    url = request_settings.get("webhook")
    if url is None or url == "":
        return None
    return validate_submitted_url(url, settings)


def _new_search(fields: Mapping[str, Any]) -> NewSearch:
    """The parsed search's own dict when it holds nothing to leave out (it is not used after)."""
    if isinstance(fields, dict) and _ECHO_EXCLUDED.isdisjoint(fields):
        return NewSearch(params=fields)
    params = {key: value for key, value in fields.items() if key not in _ECHO_EXCLUDED}
    return NewSearch(params=params, custom=fields.get("custom"), has_custom="custom" in fields)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""Control characters (NUL included) other than the white space tab, line feed and carriage return:
no person, URL or company name holds one."""


def _refuse_control_characters(params: Mapping[str, Any]) -> None:
    """The spec's 400 for a search whose identifying text holds a control character (docs/api.md §4):
    ``Invalid linkedin_url`` when ``linkedin_url`` holds one, whatever the other fields hold."""
    texts = [(key, value) for key, value in params.items() if key in SEARCH_FIELDS and isinstance(value, str)]
    refused = [key for key, text in texts if _CONTROL.search(text)]
    if "linkedin_url" in refused:
        raise InvalidLinkedinUrl()
    if refused:
        raise MissingMandatoryProperty()


def normalise(params: object) -> Search:
    """The finder's normalised search for stored or submitted params; raises the spec's 400s.

    A control character (NUL included; tab, line feed and carriage return are white space) in any
    identifying field refuses the search: ``Invalid linkedin_url`` in ``linkedin_url``, else
    ``Missing mandatory property``. Such text never reaches the store (PostgreSQL refuses NUL).
    """
    if not isinstance(params, Mapping):
        raise MissingMandatoryProperty()
    _refuse_control_characters(params)
    return search_from_params(params)


def read_single(body: object, settings: Settings) -> Submission:
    """Validate the body of POST /phone/single (already parsed JSON)."""
    if not isinstance(body, Mapping):
        raise InvalidJson()
    normalise(body)
    return Submission(kind="single", searches=(_new_search(body),), webhook_url=_webhook_of(body, settings))


def read_bulk(body: object, settings: Settings) -> Submission:
    """Validate the body of POST /phone/bulk; the first bad search names its 1-based position."""
    if not isinstance(body, Mapping):
        raise InvalidJson()
    items = body.get("searches")
    if not isinstance(items, list) or not items:
        raise NoSearches()
    if len(items) > settings.max_searches_per_batch:
        raise TooManySearches(settings.max_searches_per_batch)
    total = len(items)
    for position, item in enumerate(items, start=1):
        try:
            normalise(item)
        except InvalidSearch as error:
            raise error.in_batch(position, total) from None
    webhook = _webhook_of(body, settings)
    return Submission(
        kind="bulk",
        searches=tuple(_new_search(item) for item in items),
        webhook_url=webhook,
        custom=body.get("custom"),
        has_custom="custom" in body,
    )


# --- submitting ----------------------------------------------------------------------------------


def job_ranges(count: int, chunk_size: int) -> list[tuple[int, int]]:
    """Inclusive index ranges of at most ``chunk_size`` searches covering ``0..count-1``."""
    return [(start, min(start + chunk_size, count) - 1) for start in range(0, count, chunk_size)]


def submit(conn: Connection, account: Account, submission: Submission, settings: Settings) -> Submitted:
    """Store a validated request inside the caller's write transaction: batch, searches, jobs, credits.

    A single search's credits are taken first (``accounts.take``: an account's first take in the
    transaction is one conditional update, the others none) and its rows, its ``reserve`` entry
    included, are inserted at the commit (``at_commit``): the POSTs sharing a group commit insert
    theirs in one statement per table, so each POST's own work under the write lock is at most
    that one update. A bulk's rows are written first, with the split of the credits
    that ``account``'s balances give, and its credits taken last (``accounts.reserve_last``), so
    concurrent submissions of one account hold its row only from that update to their commit (its
    searches go by ``COPY`` on PostgreSQL, too many to hold the row through). When the balances moved
    since ``account`` was read, the split taken differs and the rows are rewritten with it; when the
    snapshot does not cover the price, the row is locked and read first (``accounts.reserve``). A
    402 leaves nothing behind since the transaction rolls back; the 201 is sent only after the caller
    commits.
    """
    batch_id = str(uuid.uuid4())
    amount = settings.price_per_phone * len(submission.searches)
    if submission.kind == "single":
        reserved = accounts.take(conn, account, amount, batch_id=batch_id)
        _write_batch(conn, account, submission, settings, batch_id, reserved, at_commit=True)
        return Submitted(batch_id, "single", credits=reserved, requested=1, estimated_duration_min=None)
    provisional = accounts.provisional_split(account, amount)
    if provisional is None:
        reserved = accounts.reserve(conn, account.id, amount, batch_id=batch_id)
    else:
        reserved = provisional
    _write_batch(conn, account, submission, settings, batch_id, reserved, at_commit=False)
    estimate = estimated_duration_min(conn, settings)
    if provisional is not None:
        reserved = accounts.reserve_last(conn, account.id, provisional, batch_id=batch_id)
        if reserved != provisional:
            repo.set_reservation(conn, batch_id, settings.price_per_phone, reserved)
    return Submitted(
        id=batch_id,
        kind=submission.kind,
        credits=reserved,
        requested=len(submission.searches),
        estimated_duration_min=estimate,
    )


def _write_batch(
    conn: Connection,
    account: Account,
    submission: Submission,
    settings: Settings,
    batch_id: str,
    reserved: Split,
    *,
    at_commit: bool,
) -> None:
    """The batch, its searches (each with its share of ``reserved``, in index order) and its jobs."""
    count, price, now = len(submission.searches), settings.price_per_phone, utcnow()
    repo.insert_batch(
        conn,
        batch_id=batch_id,
        account_id=account.id,
        kind=submission.kind,
        custom=submission.custom,
        has_custom=submission.has_custom,
        webhook_url=submission.webhook_url,
        requested=count,
        price=price,
        reserved=reserved,
        now=now,
        at_commit=at_commit,
    )
    ids = [batch_id] if submission.kind == "single" else random_uuids(count)
    splits = accounts.per_search_splits(reserved, price, count)
    repo.insert_searches(conn, batch_id, ids, submission.searches, splits, at_commit=at_commit)
    ranges = job_ranges(count, settings.job_chunk_size)
    jobs_repo.insert_jobs(conn, batch_id, ranges, now=now, at_commit=at_commit)


def searches_per_minute(conn: Connection, settings: Settings) -> float:
    """Measured throughput: searches per second of recent successful attempts times worker threads."""
    timings = jobs_repo.recent_timings(conn)
    if not timings:
        return DEFAULT_SEARCHES_PER_MIN
    per_second = sum(t.size for t in timings) / sum(t.seconds for t in timings)
    return max(per_second * 60 * settings.worker_concurrency, 1.0)


def estimated_duration_min(conn: Connection, settings: Settings) -> int:
    """Whole minutes, at least 1, for every search queued up to and including the newest batch."""
    ahead = repo.searches_left(conn)
    return max(1, math.ceil(ahead / searches_per_minute(conn, settings)))


# --- recording results ---------------------------------------------------------------------------


def outcomes_for(pending: Sequence[PendingSearch], answers: Sequence[Answer | None]) -> list[SearchOutcome]:
    """Raw outcomes (nothing charged yet) from the finder's answers; ``None`` means not found."""
    outcomes = []
    for search, answer in zip(pending, answers, strict=True):
        if answer is None or not answer.found:
            outcomes.append(
                SearchOutcome(
                    search_id=search.id,
                    qualification="not_found",
                    person_key=answer.person_key if answer else None,
                )
            )
            continue
        outcomes.append(
            SearchOutcome(
                search_id=search.id,
                qualification="found",
                number=answer.number,
                country=answer.country,
                line_type=answer.line_type,
                source_names=tuple(answer.sources),
                last_seen=answer.last_seen.isoformat() if answer.last_seen else None,
                person_key=answer.person_key or f"s:{search.id}",
                do_not_call=answer.do_not_call,
            )
        )
    return outcomes


def _charge_once_per_person(conn: Connection, chunks: Sequence[ChunkOutcomes]) -> set[str]:
    """The searches charged: the first found search of each person not yet charged in its batch
    (docs/finder.md §5), recorded as such."""
    first_by_person: dict[tuple[str, str], str] = {}
    for chunk in chunks:
        for outcome in chunk.outcomes:
            if outcome.qualification == "found" and outcome.person_key:
                first_by_person.setdefault((chunk.batch.id, outcome.person_key), outcome.search_id)
    return outcomes_repo.claim_people(conn, [(*key, search_id) for key, search_id in first_by_person.items()])


def record_chunks(conn: Connection, chunks: Sequence[ChunkOutcomes]) -> None:
    """Write results, charge each person once per batch, refund the rest, count them, and finish
    the batches that are done: for every chunk at once, one statement per kind of write.

    Runs inside the job step's write transaction, after the leases were confirmed; every search in
    a chunk's ``pending`` was re-read as pending in this transaction, so each gets exactly one
    result. Chunks of one batch are counted together; a batch they finish is ``failed`` only if one
    of them was given up and every job of the batch failed (:func:`complete_batches`).
    """
    chunks = [chunk for chunk in chunks if chunk.outcomes]
    if not chunks:
        return
    charged = _charge_once_per_person(conn, chunks)
    outcomes_repo.write_outcomes(conn, [o for chunk in chunks for o in chunk.outcomes], charged, now=utcnow())
    accounts.refund_searches(conn, [refund for chunk in chunks for refund in _refunds(chunk, charged)])
    counts: Counter[str] = Counter()
    for chunk in chunks:
        counts[chunk.batch.id] += len(chunk.outcomes)
    after = outcomes_repo.add_finished(conn, counts)
    given_up = {chunk.batch.id for chunk in chunks if not chunk.job_ran}
    by_id = {chunk.batch.id: chunk.batch for chunk in chunks}
    done = [by_id[batch_id] for batch_id, (finished, requested) in after.items() if finished >= requested]
    complete_batches(conn, done, given_up=given_up)


def _refunds(chunk: ChunkOutcomes, charged: Collection[str]) -> list[SearchRefund]:
    reserved = {search.id: search.reserved for search in chunk.pending}
    batch = chunk.batch
    return [
        SearchRefund(batch.account_id, batch.id, o.search_id, reserved[o.search_id], batch.kind)
        for o in chunk.outcomes
        if o.search_id not in charged
    ]


def complete_batches(conn: Connection, done: Sequence[Batch], *, given_up: Collection[str] = ()) -> None:
    """Close batches whose searches all have a result and queue their webhooks (outbox, same
    transaction).

    A batch is ``failed`` only when no job of it could be processed at all (every search refunded),
    which its jobs are counted for only when one of the jobs completing it was given up (its id in
    ``given_up``). With no webhook URL (the request's or the account's), the payload is not built:
    most single searches are polled, and its reads were two of the dozen statements that record one.
    """
    if not done:
        return
    statuses: dict[str, BatchStatus] = {
        batch.id: _status_after_giving_up(conn, batch.id) if batch.id in given_up else "completed"
        for batch in done
    }
    outcomes_repo.set_final_statuses(conn, statuses, now=utcnow())
    urls = webhook_urls(conn, [(batch.account_id, batch.webhook_url) for batch in done])
    for batch, url in zip(done, urls, strict=True):
        if url is not None:
            payload = completion_payload(conn, batch)
            notify(
                conn,
                url=url,
                account_id=batch.account_id,
                batch_id=batch.id,
                event=payload["event"],
                payload=payload,
            )


def _status_after_giving_up(conn: Connection, batch_id: str) -> BatchStatus:
    failed_jobs, all_jobs = jobs_repo.count_failed_and_all(conn, batch_id)
    return "failed" if all_jobs and failed_jobs == all_jobs else "completed"


def completion_payload(conn: Connection, batch: Batch) -> dict[str, Any]:
    """The webhook body of a completed batch: its cost and, for a single search, its result."""
    cost = batch_cost(conn, batch.id)
    if batch.kind == "single":
        rows = repo.searches_of_batch(conn, batch.id)
        return {
            "event": SINGLE_EVENT,
            "id": batch.id,
            "credits": {"cost": cost[0]},
            "result": single_result(rows[0]),
        }
    payload: dict[str, Any] = {"event": BULK_EVENT, "id": batch.id, "credits": {"cost": cost[0]}}
    if batch.has_custom:
        payload["custom"] = batch.custom
    return payload


# --- reading results -----------------------------------------------------------------------------


def batch_cost(conn: Connection, batch_id: str) -> tuple[int, int]:
    """``(credits_cost, credits_to_refund)`` of a batch, from its ledger rows."""
    totals = accounts.batch_ledger_totals(conn, batch_id)
    reserved = -totals.get("reserve", Split(0, 0)).total
    refunded = totals.get("refund", Split(0, 0)).total
    return reserved - refunded, refunded


def get_single(conn: Connection, account: Account, search_id: str) -> SearchRow:
    """The stored search behind GET /phone/single; another account's id is simply not found."""
    row = lookups.single_search(conn, search_id, account.id)
    if row is None:
        raise SearchNotFound()
    return row


def get_any_search(conn: Connection, account: Account, search_id: str) -> SearchRow:
    """A search of the account: a single search (by the id POST /phone/single gave) or one search of
    a bulk batch (by the ``id`` of its entry in GET /phone/bulk's results); else not found."""
    try:
        return get_single(conn, account, search_id)
    except SearchNotFound:
        row = lookups.search_of_account(conn, search_id, account.id)
    if row is None:
        raise SearchNotFound()
    return row


def stats_of(batch: Batch, rows: Sequence[SearchRow], cost: tuple[int, int]) -> BatchStats:
    """A finished batch's counts and charge: found (= valid) results, and ``cost`` from the ledger."""
    found = sum(1 for row in rows if row.qualification == "found")
    return BatchStats(
        requested=batch.requested,
        finished=batch.finished,
        found=found,
        valid=found,
        credits_cost=cost[0],
        credits_to_refund=cost[1],
    )


def get_bulk(conn: Connection, account: Account, batch_id: str) -> BulkReport:
    """A bulk batch for GET /phone/bulk: the batch while ongoing; its stats and results once done."""
    batch = repo.get_batch(conn, batch_id, account_id=account.id)
    if batch is None or batch.kind != "bulk":
        raise BulkNotFound()
    if batch.status == "ongoing":
        return BulkReport(batch)
    rows = repo.searches_of_batch(conn, batch.id)
    return BulkReport(batch, stats_of(batch, rows, batch_cost(conn, batch.id)), tuple(rows))


def bulk_batch(conn: Connection, account: Account, batch_id: str) -> Batch:
    """A bulk batch of ``account``; another account's id, or a single search's, is not found."""
    batch = repo.get_batch(conn, batch_id, account_id=account.id)
    if batch is None or batch.kind != "bulk":
        raise BulkNotFound()
    return batch


def progress_of(conn: Connection, account: Account, batch_id: str) -> tuple[Batch, int]:
    """A bulk batch of ``account`` and how many of its searches were found so far (404 otherwise)."""
    batch = repo.get_batch(conn, batch_id, account_id=account.id)
    if batch is None or batch.kind != "bulk":
        raise BulkNotFound()
    return batch, repo.count_found(conn, batch.id)
