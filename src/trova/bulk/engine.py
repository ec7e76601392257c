"""The engine of ``trova bulk``: plan the searches of a lead file, run them as batches, write the result.

Never paying twice for a row rests on three things:

* identical searches (same normalised person) are sent once, whatever the number of rows;
* the journal (``<output>.trova-state``, JSON Lines, each entry fsynced) records a batch's
  ``Idempotency-Key`` *before* the batch is posted, and its id and results as soon as they are known;
  re-running after a crash posts an unfinished submission again with the same key, and the server
  answers with the batch it already created instead of a new one;
* a re-run checks that the input, the mapping and the batch size give exactly the planned searches
  (a fingerprint), so recorded results are never applied to different rows.
"""

from __future__ import annotations

import hashlib
import os
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from trova.bulk.tabular import Record, Table, TableFormat, TableWriter
from trova.client import (
    ApiError,
    Bulk,
    Client,
    ClientError,
    InsufficientCreditsError,
    RateLimitError,
    new_idempotency_key,
)
from trova.errors import InvalidSearch
from trova.people.models import Search
from trova.people.normalise import search_from_params

MAX_BATCH_SIZE = 3000
ADDED_COLUMNS = (
    "phone", "phone_country", "phone_line_type", "phone_sources", "phone_last_seen", "phone_status"
)
STATE_SUFFIX = ".trova-state"
JOURNAL_VERSION = 1
EXAMPLES_KEPT = 20

Answer = tuple[str, str, str, str, str] | None
"""(number, country, line_type, sources joined by ``;``, last_seen) when found."""


class BulkError(ClientError):
    """A fatal problem of the bulk run, said in one line."""


class Interrupted(BulkError):
    """Ctrl-C: the journal is intact, the output is written with what is done so far."""


def state_path(output: Path) -> Path:
    return output.with_name(output.name + STATE_SUFFIX)


# --- plan -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unusable:
    line: int
    reason: str


@dataclass(slots=True)
class Plan:
    """What a lead file asks for: one code per row and the unique searches, in first-seen order.

    ``codes[row]`` is the index of the row's search, or ``-1 - reason_index`` for an unusable row.
    """

    mapping: Mapping[str, str]
    batch_size: int
    codes: array[int] = field(default_factory=lambda: array("q"))
    reasons: list[str] = field(default_factory=list)
    searches: list[bytes] = field(default_factory=list)
    rows_per_search: array[int] = field(default_factory=lambda: array("q"))
    unusable: Counter[str] = field(default_factory=Counter)
    examples: list[Unusable] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.codes)

    @property
    def unusable_rows(self) -> int:
        return sum(self.unusable.values())

    @property
    def chunk_count(self) -> int:
        return -(-len(self.searches) // self.batch_size)

    def chunk_range(self, chunk: int) -> range:
        return range(chunk * self.batch_size, min((chunk + 1) * self.batch_size, len(self.searches)))

    def chunk_searches(self, chunk: int) -> list[dict[str, Any]]:
        return [orjson.loads(self.searches[i]) for i in self.chunk_range(chunk)]

    def chunk_rows(self, chunk: int) -> int:
        return sum(self.rows_per_search[i] for i in self.chunk_range(chunk))

    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{JOURNAL_VERSION}:{self.batch_size}".encode())
        for search in self.searches:
            digest.update(b"\n" + search)
        return digest.hexdigest()

    def add_unusable(self, line: int, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)
        self.codes.append(-1 - self.reasons.index(reason))
        self.unusable[reason] += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(Unusable(line, reason))


def search_params(record: Record, mapping: Mapping[str, str]) -> dict[str, str]:
    """The API search of one row: each mapped, non-blank cell under its API field name."""
    params: dict[str, str] = {}
    for column, field_name in mapping.items():
        value = record.values.get(column, "").strip()
        if value:
            params[field_name] = value
    return params


def validate(params: Mapping[str, str]) -> Search | str:
    """The normalised search, or the API's reason for refusing it (checked here so it costs nothing)."""
    try:
        return search_from_params(params)
    except InvalidSearch as exc:
        return exc.reason


def build_plan(table: Table, mapping: Mapping[str, str], batch_size: int = MAX_BATCH_SIZE) -> Plan:
    """One pass over the file: validate each row locally and de-duplicate identical searches."""
    plan = Plan(dict(mapping), batch_size)
    index: dict[Search, int] = {}
    for record in table.records():
        if record.problem is not None:
            plan.add_unusable(record.line, record.problem)
            continue
        params = search_params(record, mapping)
        search = validate(params)
        if isinstance(search, str):
            plan.add_unusable(record.line, search)
            continue
        position = index.get(search)
        if position is None:
            position = index[search] = len(plan.searches)
            # a copy: orjson's result keeps its 4 KiB working buffer (100,000 searches: 400 MB)
            plan.searches.append(bytes(memoryview(orjson.dumps(params))))
            plan.rows_per_search.append(0)
        plan.rows_per_search[position] += 1
        plan.codes.append(position)
    return plan


# --- journal --------------------------------------------------------------------------------------


@dataclass(slots=True)
class ChunkState:
    key: str | None = None
    bulk_id: str | None = None
    answers: list[Answer] | None = None

    @property
    def done(self) -> bool:
        return self.answers is not None


class Journal:
    """The append-only, fsynced record of one bulk run (see the module docstring for why)."""

    def __init__(self, path: Path, plan: Plan, *, create: bool = True) -> None:
        """Load the journal at ``path``, or start one (``create=False`` only reads: for dry runs)."""
        self.path = path
        self.chunks = [ChunkState() for _ in range(plan.chunk_count)]
        self.fingerprint = plan.fingerprint()
        if path.exists():
            self._load()
        elif create:
            self._append({"v": JOURNAL_VERSION, "plan": self.fingerprint, "chunks": plan.chunk_count})

    @property
    def chunks_done(self) -> int:
        return sum(1 for state in self.chunks if state.done)

    def _load(self) -> None:
        lines = self.path.read_bytes().splitlines()
        entries: list[dict[str, Any]] = []
        for number, line in enumerate(lines, start=1):
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                if number == len(lines):
                    break  # torn by a crash mid-write: that entry never happened
                raise BulkError(f"{self.path} is damaged (line {number}); delete it to start over") from None
            entries.append(entry)
        if not entries or entries[0].get("plan") != self.fingerprint:
            raise BulkError(
                f"{self.path} belongs to a different input, mapping or batch size; re-run with the "
                "original ones, or delete it to start over (its batches would be charged again)"
            )
        for entry in entries[1:]:
            self._replay(entry)

    def _replay(self, entry: Mapping[str, Any]) -> None:
        state = self.chunks[int(entry["chunk"])]
        if "key" in entry:
            state.key, state.bulk_id = str(entry["key"]), None
        if "id" in entry:
            state.bulk_id = str(entry["id"])
        if "answers" in entry:
            state.answers = [_answer(a) for a in entry["answers"]]
        if entry.get("reset"):
            state.key = state.bulk_id = None

    def _append(self, entry: Mapping[str, Any]) -> None:
        with open(self.path, "ab") as handle:
            handle.write(orjson.dumps(entry) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def intend(self, chunk: int, key: str) -> None:
        self._append({"chunk": chunk, "key": key})
        self.chunks[chunk].key, self.chunks[chunk].bulk_id = key, None

    def submitted(self, chunk: int, bulk_id: str) -> None:
        self._append({"chunk": chunk, "id": bulk_id})
        self.chunks[chunk].bulk_id = bulk_id

    def completed(self, chunk: int, answers: list[Answer]) -> None:
        self._append({"chunk": chunk, "answers": answers})
        self.chunks[chunk].answers = answers

    def reset(self, chunk: int) -> None:
        """Nothing was created (refused, or failed and refunded): the next attempt takes a new key."""
        self._append({"chunk": chunk, "reset": True})
        self.chunks[chunk].key = self.chunks[chunk].bulk_id = None

    def answer(self, plan: Plan, search: int) -> Answer | str:
        """The answer of one unique search, or ``"pending"`` if its batch has not finished."""
        state = self.chunks[search // plan.batch_size]
        if state.answers is None:
            return "pending"
        return state.answers[search % plan.batch_size]


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


def _answer(value: Any) -> Answer:
    """A journal entry's answer; journals of earlier versions hold three fields."""
    if not value:
        return None
    cells = [str(cell) for cell in value] + [""] * (5 - len(value))
    return (cells[0], cells[1], cells[2], cells[3], cells[4])


def answers_of(bulk: Bulk, size: int) -> list[Answer]:
    answers: list[Answer] = [None] * size
    for position, result in enumerate(bulk.results):
        index = result.index if result.index is not None else position
        if 0 <= index < size and result.found and result.number:
            answers[index] = (
                result.number, result.country or "", result.line_type or "", ";".join(result.sources),
                result.last_seen or "",
            )
    return answers


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
        in_flight: list[int] = []
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

    def _poll(self, in_flight: Sequence[int], outcome: Outcome) -> Iterator[int]:
        for chunk in list(in_flight):
            state = self.journal.chunks[chunk]
            assert state.bulk_id is not None
            bulk = self.client.get_bulk(state.bulk_id)
            self.finished[chunk] = bulk.stats.finished
            if bulk.status == "completed":
                self.journal.completed(chunk, answers_of(bulk, len(self.plan.chunk_range(chunk))))
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


def write_output(table: Table, plan: Plan, journal: Journal, output: Path, fmt: TableFormat) -> Summary:
    """Every input row in input order, with the four added columns; replaces ``output`` atomically."""
    summary = Summary()
    writer = TableWriter(output, fmt, table.columns, ADDED_COLUMNS)
    try:
        for row, record in enumerate(table.records()):
            if row >= plan.rows:
                raise BulkError(f"{table.path} changed while it was processed; re-run the command")
            added = row_columns(plan, journal, plan.codes[row])
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
