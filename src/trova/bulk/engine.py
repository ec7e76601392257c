"""The engine of ``trova bulk``: plan the searches of a lead file, run them as batches, write the result.

Never paying twice for a row rests on three things:

* identical searches (same normalised person) are sent once, whatever the number of rows;
* the journal (:mod:`trova.bulk.journal`) records a batch's ``Idempotency-Key`` *before* the batch
  is posted, then its id, then that it completed (never its results: a re-run reads them again from
  the server); re-running after a crash posts an unfinished submission again with the same key, and
  the server answers with the batch it already created instead of a new one;
* a re-run checks that the input, the mapping and the batch size give exactly the planned searches
  (a fingerprint), so recorded results are never applied to different rows.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trova.bulk.journal import Answer, BulkError, Journal, state_path
from trova.bulk.plan import MAX_BATCH_SIZE as MAX_BATCH_SIZE  # the plan's names, kept importable from here
from trova.bulk.plan import Plan as Plan
from trova.bulk.plan import Unusable as Unusable
from trova.bulk.plan import build_plan as build_plan
from trova.bulk.plan import validate as validate
from trova.bulk.tabular import Table, TableFormat, TableWriter
from trova.client import (
    ApiError,
    Bulk,
    Client,
    ClientError,
    InsufficientCreditsError,
    RateLimitError,
    new_idempotency_key,
)
from trova.people.columns import RESULT_COLUMNS

ADDED_COLUMNS = RESULT_COLUMNS
WHY_COLUMN = "phone_why"

__all__ = ["Answer", "BulkError", "Journal", "state_path"]


class Interrupted(BulkError):
    """Ctrl-C: the journal is intact, the output is written with what is done so far."""


# --- run ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunOptions:
    webhook: str | None = None
    max_in_flight: int = 4
    poll_interval_s: float = 2.0
    label: str = "trova bulk"


@dataclass(frozen=True, slots=True)
class Progress:
    rows_done: int
    rows_found: int


@dataclass(slots=True)
class Outcome:
    """How a run ended: ``stop`` is the error that stopped it early (the output is then partial)."""

    stop: ClientError | None = None
    failed_batches: int = 0


def batch_body(plan: Plan, chunk: int, label: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The searches and ``custom`` of one batch: the same on every run, so a re-post matches its key."""
    return plan.chunk_searches(chunk), {"source": label, "batch": chunk + 1, "of": plan.chunk_count}


def answers_of(bulk: Bulk, size: int) -> list[Answer]:
    return results_of(bulk, size)[0]


def results_of(bulk: Bulk, size: int) -> tuple[list[Answer], dict[int, str]]:
    """A completed batch's answers by position, and the search ids of the searches that found nothing."""
    answers: list[Answer] = [None] * size
    missed: dict[int, str] = {}
    for position, result in enumerate(bulk.results):
        index = result.index if result.index is not None else position
        if not 0 <= index < size:
            continue
        if result.found and result.number:
            answers[index] = (
                result.number, result.country or "", result.line_type or "", ";".join(result.sources),
                result.last_seen or "",
            )
        elif result.id is not None:
            missed[index] = result.id
    return answers, missed


class Runner:
    """Submits the planned batches (at most ``max_in_flight`` at once), polls them, journals results."""

    def __init__(
        self, client: Client, plan: Plan, journal: Journal, options: RunOptions,
        on_progress: Callable[[Progress], None] = lambda _: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client, self.plan, self.journal, self.options = client, plan, journal, options
        self.on_progress, self.sleep = on_progress, sleep
        self.finished: dict[int, int] = {}
        self.rows_in_chunk = [plan.chunk_rows(chunk) for chunk in range(plan.chunk_count)]
        self.found_in_chunk: dict[int, int] = {}

    def _found_rows(self, chunk: int, answers: Sequence[Answer]) -> int:
        if chunk not in self.found_in_chunk:
            rows = self.plan.rows_per_search
            self.found_in_chunk[chunk] = sum(
                rows[i] for i, answer in zip(self.plan.chunk_range(chunk), answers, strict=True) if answer
            )
        return self.found_in_chunk[chunk]

    def progress(self) -> Progress:
        """Rows done (unusable rows, finished batches, and running ones pro rata) and rows found."""
        done, found = self.plan.unusable_rows, 0
        for chunk, state in enumerate(self.journal.chunks):
            if state.answers is not None:
                done += self.rows_in_chunk[chunk]
                found += self._found_rows(chunk, state.answers)
            elif chunk in self.finished:
                size = max(len(self.plan.chunk_range(chunk)), 1)
                done += self.rows_in_chunk[chunk] * min(self.finished[chunk], size) // size
        return Progress(done, found)

    def run(self) -> Outcome:
        outcome = Outcome()
        waiting = [c for c, s in enumerate(self.journal.chunks) if not s.done]
        in_flight = [c for c, s in enumerate(self.journal.chunks) if s.to_fetch]
        self.on_progress(self.progress())
        while waiting or in_flight:
            while waiting and outcome.stop is None and len(in_flight) < self.options.max_in_flight:
                chunk = waiting[0]
                try:
                    self._submit(chunk)
                except (InsufficientCreditsError, RateLimitError) as exc:
                    outcome.stop = exc
                    break
                in_flight.append(waiting.pop(0))
            if outcome.stop is not None:
                waiting = []
            if not in_flight:
                break
            for chunk in self._poll(in_flight, outcome):
                in_flight.remove(chunk)
            self.on_progress(self.progress())
            if in_flight:
                self.sleep(self.options.poll_interval_s)
        return outcome

    def _submit(self, chunk: int) -> None:
        state = self.journal.chunks[chunk]
        if state.bulk_id is not None:
            return
        if state.key is None:
            self.journal.intend(chunk, new_idempotency_key())
        assert state.key is not None
        searches, custom = batch_body(self.plan, chunk, self.options.label)
        try:
            submission = self.client.submit_bulk(
                searches, custom=custom, webhook=self.options.webhook, idempotency_key=state.key
            )
        except ApiError as exc:
            if 400 <= exc.status < 500 and exc.status != 409:
                self.journal.reset(chunk)
            if exc.status == 409:
                raise BulkError(
                    f"batch {chunk + 1} was first submitted with other settings (e.g. --webhook); "
                    "re-run with the original ones"
                ) from None
            raise
        self.journal.submitted(chunk, submission.id)

    def _get(self, chunk: int, bulk_id: str, *, again: bool) -> Bulk:
        """The batch from the server; ``again`` for one an earlier run saw complete."""
        try:
            return self.client.get_bulk(bulk_id)
        except ApiError as exc:
            if again and exc.status == 404:
                raise BulkError(
                    f"batch {chunk + 1} ({bulk_id}) is no longer on the server, so its results cannot be "
                    "read again; --restart runs every batch again (and pays again)"
                ) from None
            raise

    def _poll(self, in_flight: Sequence[int], outcome: Outcome) -> Iterator[int]:
        for chunk in list(in_flight):
            state = self.journal.chunks[chunk]
            assert state.bulk_id is not None
            bulk = self._get(chunk, state.bulk_id, again=state.done)
            self.finished[chunk] = bulk.stats.finished
            if bulk.status == "completed":
                self.journal.completed(chunk, *results_of(bulk, len(self.plan.chunk_range(chunk))))
                yield chunk
            elif bulk.status == "failed":
                self.journal.reset(chunk)
                self.finished.pop(chunk, None)
                outcome.failed_batches += 1
                yield chunk


# --- output ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Summary:
    rows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)


def row_columns(plan: Plan, journal: Journal, code: int) -> dict[str, str]:
    empty = dict.fromkeys(ADDED_COLUMNS[:-1], "")
    if code < 0:
        return {**empty, "phone_status": f"invalid_input: {plan.reasons[-1 - code]}"}
    answer = journal.answer(plan, code)
    if not isinstance(answer, tuple):
        return {**empty, "phone_status": "not_found" if answer is None else "pending"}
    number, country, line_type, sources, last_seen = answer
    return {"phone": number, "phone_country": country, "phone_line_type": line_type, "phone_sources": sources,
            "phone_last_seen": last_seen, "phone_status": "found"}


def why_cell(plan: Plan, code: int, status: str, why: Mapping[int, str]) -> str:
    """The ``phone_why`` cell: the reason a row was refused, or why its search found nothing."""
    if code < 0:
        return plan.reasons[-1 - code]
    return why.get(code, "") if status == "not_found" else ""


def write_output(
    table: Table, plan: Plan, journal: Journal, output: Path, fmt: TableFormat,
    why: Mapping[int, str] | None = None,
) -> Summary:
    """Every input row in input order, with the added columns (``phone_why`` too when ``why`` is given:
    unique search index -> reason); replaces ``output`` atomically."""
    summary = Summary()
    added_columns = ADDED_COLUMNS + ((WHY_COLUMN,) if why is not None else ())
    writer = TableWriter(output, fmt, table.columns, added_columns)
    try:
        for row, record in enumerate(table.records()):
            if row >= plan.rows:
                raise BulkError(f"{table.path} changed while it was processed; re-run the command")
            code = plan.codes[row]
            added = row_columns(plan, journal, code)
            if why is not None:
                added[WHY_COLUMN] = why_cell(plan, code, added["phone_status"], why)
            writer.write(record, added)
            summary.rows += 1
            summary.statuses[added["phone_status"].partition(":")[0]] += 1
        if summary.rows != plan.rows:
            raise BulkError(f"{table.path} changed while it was processed; re-run the command")
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return summary
