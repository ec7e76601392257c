"""The job step's statements: the pending searches of claimed chunks and what recording their
outcomes writes (results, people charged, finished counts, final statuses, resolution errors).

Each takes every job recorded together at once and is one statement (or one ``executemany``): a
worker records up to 256 single searches in one transaction, and on PostgreSQL every statement is a
round trip to the server, which the worker waited for about two thirds of its time when each job
had statements of its own (``bench/job_steps.py``). The tables are those of
:mod:`trova.batches.repository`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from trova.accounts.models import Split
from trova.batches.models import BatchStatus, PendingSearch
from trova.people.models import SearchOutcome
from trova.store.bulk import execute_many, insert_new
from trova.store.sql import driver_rows
from trova.store.tables import batch_people, batches, search_errors, searches

_T = TypeVar("_T")

IndexRange = tuple[str, int, int]
"""``(batch_id, first_idx, last_idx)``: the searches of one job."""

RANGES_PER_STATEMENT = (1, 4, 16, 64)
"""The shapes of the pending read: n ranges are read by the smallest that holds them (the last
range repeated to fill it), more than the largest in several statements. A shape per count would
be compiled, and kept, 64 times over."""


@lru_cache(maxsize=len(RANGES_PER_STATEMENT) * 2)
def _pending_in(count: int, with_params: bool) -> sa.Select[Any]:
    params = searches.c.params if with_params else sa.null().label("params")
    ranges = [
        sa.and_(
            searches.c.batch_id == sa.bindparam(f"batch_{i}", type_=searches.c.batch_id.type),
            searches.c.idx >= sa.bindparam(f"first_{i}"),
            searches.c.idx <= sa.bindparam(f"last_{i}"),
        )
        for i in range(count)
    ]
    return (
        sa.select(
            searches.c.batch_id,
            searches.c.id,
            searches.c.idx,
            params,
            searches.c.reserved_sub,
            searches.c.reserved_paygo,
        )
        .where(sa.or_(*ranges), searches.c.status == "pending")
        .order_by(searches.c.batch_id, searches.c.idx)
    )


def pending_in_ranges(
    conn: Connection, ranges: Sequence[IndexRange], *, with_params: bool = True
) -> list[list[PendingSearch]]:
    """The searches of each index range still waiting for a result, in index order, one list per
    range (ranges do not overlap).

    ``with_params=False`` leaves ``params`` unread (``None``): the job step's result transaction
    only needs to know which searches are still pending and what each reserved.
    """
    found: dict[str, list[tuple[int, PendingSearch]]] = {}
    for size, filled in _pages(ranges):
        params = {
            key: value
            for i, (batch_id, first, last) in enumerate(filled)
            for key, value in ((f"batch_{i}", batch_id), (f"first_{i}", first), (f"last_{i}", last))
        }
        for batch_id, search_id, index, text, sub, paygo in driver_rows(
            conn, _pending_in(size, with_params), params
        ):
            search = PendingSearch(
                search_id,
                index,
                orjson.loads(text) if text is not None else None,
                Split(int(sub), int(paygo)),
            )
            found.setdefault(batch_id, []).append((index, search))
    return [
        [search for index, search in found.get(batch_id, ()) if first <= index <= last]
        for batch_id, first, last in ranges
    ]


def _pages(items: Sequence[_T]) -> Iterable[tuple[int, list[_T]]]:
    """Pages of at most the largest of :data:`RANGES_PER_STATEMENT` items, each with the size of
    the statement that takes it, the last item repeated to fill it."""
    largest = RANGES_PER_STATEMENT[-1]
    for start in range(0, len(items), largest):
        page = list(items[start : start + largest])
        size = next(size for size in RANGES_PER_STATEMENT if size >= len(page))
        yield size, [*page, *[page[-1]] * (size - len(page))]


def pending_searches(
    conn: Connection, batch_id: str, first_idx: int, last_idx: int, *, with_params: bool = True
) -> list[PendingSearch]:
    """The searches of one index range still waiting for a result (:func:`pending_in_ranges`)."""
    return pending_in_ranges(conn, [(batch_id, first_idx, last_idx)], with_params=with_params)[0]


_OUTCOME_COLUMNS = (
    "qualification",
    "number",
    "country",
    "line_type",
    "source_count",
    "source_names",
    "last_seen",
    "person_key",
    "charged",
    "do_not_call",
    "finished_at",
)
_WRITE_OUTCOME = (
    searches.update()
    .where(searches.c.id == sa.bindparam("b_id"), searches.c.status == "pending")
    .values(status="done", **{name: sa.bindparam(f"b_{name}") for name in _OUTCOME_COLUMNS})
)
"""Built once: :func:`~trova.store.bulk.execute_many` then compiles it once per dialect."""
OUTCOME_BINDS = ("b_id", *(f"b_{name}" for name in _OUTCOME_COLUMNS))


def write_outcomes(
    conn: Connection, outcomes: Sequence[SearchOutcome], charged: Collection[str], *, now: dt.datetime
) -> None:
    """Store each result, only on searches still pending: a search gets exactly one result; those
    of ``charged`` (search ids) are marked as charged."""
    execute_many(
        conn,
        _WRITE_OUTCOME,
        OUTCOME_BINDS,
        [
            (
                outcome.search_id,
                outcome.qualification,
                outcome.number,
                outcome.country,
                outcome.line_type,
                len(outcome.source_names) if outcome.number else None,
                tuple(outcome.source_names) if outcome.number else None,
                outcome.last_seen,
                outcome.person_key,
                outcome.search_id in charged,
                outcome.do_not_call if outcome.number else None,
                now,
            )
            for outcome in outcomes
        ],
    )


def insert_search_errors(
    conn: Connection, errors: Sequence[tuple[str, int | None, str]], *, now: dt.datetime
) -> None:
    """One ``search_errors`` row per (search id, job id, error text): searches that raised while
    resolved."""
    if errors:
        conn.execute(
            search_errors.insert(),
            [
                {"search_id": sid, "job_id": job_id, "error": text, "created_at": now}
                for sid, job_id, text in errors
            ],
        )


def claim_people(conn: Connection, people: Sequence[tuple[str, str, str]]) -> set[str]:
    """Record each ``(batch_id, person_key, search_id)`` as charged in its batch; returns the search
    ids newly recorded.

    A person already recorded in the batch (charged by another job of it) is left alone and its
    search not returned; give each person of a batch once.
    """
    if not people:
        return set()
    return set(insert_new(conn, batch_people, ("batch_id", "person_key", "search_id"), people, "search_id"))


@lru_cache(maxsize=8)
def _add_finished(counts: int) -> sa.Update:
    ids = [sa.bindparam(f"batch_{i}", type_=batches.c.id.type) for i in range(counts)]
    added = sa.case(
        *(
            (batches.c.id == batch_id, sa.bindparam(f"count_{i}", type_=sa.Integer))
            for i, batch_id in enumerate(ids)
        ),
        else_=0,
    )
    return (
        batches.update()
        .where(batches.c.id.in_(ids))
        .values(finished=batches.c.finished + added)
        .returning(batches.c.id, batches.c.finished, batches.c.requested)
    )


def add_finished(conn: Connection, counts: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """Count, for each batch id, that many more finished searches, in one statement (a page of
    :data:`RANGES_PER_STATEMENT`, the last batch repeated: its first count wins); returns each
    batch's ``(finished, requested)`` after it."""
    after: dict[str, tuple[int, int]] = {}
    for size, filled in _pages(sorted(counts.items())):
        params: dict[str, object] = {f"batch_{i}": batch_id for i, (batch_id, _) in enumerate(filled)}
        params |= {f"count_{i}": count for i, (_, count) in enumerate(filled)}
        for batch_id, finished, requested in conn.execute(_add_finished(size), params):
            after[batch_id] = (int(finished), int(requested))
    return after


_SET_FINAL_STATUS = (
    batches.update()
    .where(batches.c.id == sa.bindparam("b_batch_id"), batches.c.status == "ongoing")
    .values(status=sa.bindparam("b_status"), completed_at=sa.bindparam("b_now"))
)


def set_final_statuses(conn: Connection, statuses: Mapping[str, BatchStatus], *, now: dt.datetime) -> None:
    """Close each ongoing batch of ``statuses`` (batch id → final status), in one ``executemany``."""
    execute_many(
        conn,
        _SET_FINAL_STATUS,
        ("b_batch_id", "b_status", "b_now"),
        [(batch_id, status, now) for batch_id, status in statuses.items()],
    )
