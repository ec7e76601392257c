"""The import: files -> rows -> normalised records -> screened -> linked, one write transaction per chunk.

``import_paths`` sniffs every file first (a file that is not CSV or JSON Lines is refused before
anything is written), then streams each file in chunks of ``import_chunk_rows`` rows, read and
normalised by ``trova.contacts.normalise`` (in a reader process for large files, see
``trova.ingest.parallel``, so the second core reads while this one writes). The suppression list
screens every chunk (``trova.privacy``), and what it allows is linked into the store by
``trova.contacts.linking`` in one write transaction per chunk, so a kill -9 leaves whole chunks
only, and a re-run skips what is already stored: every observation carries a ``dedupe_key`` of
source + person + number + date.

``store_records`` links records from elsewhere (upstream sources) the same way. This module owns
the transactions; the linking policy and the screening take its connections.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from trova.contacts import repository as repo
from trova.contacts.linking import LinkOutcome, LinkState, link, write
from trova.contacts.models import ContactRecord, ImportReport, RowProblem, SkipReason
from trova.contacts.normalise import SOURCE_LENGTH, FileToRead, Normalised
from trova.contacts.readers import SniffedFile, sniff
from trova.errors import UsageError
from trova.ingest.parallel import normalised_chunks, relaxed_collector
from trova.people.columns import missing_column
from trova.people.rank import RETURNABLE_LINES, exclusion
from trova.privacy.screening import screen_records
from trova.settings import get_settings
from trova.store import Database, utcnow

KEPT_PROBLEMS = 1000
"""Problems kept in the report; every one is still passed to ``on_problem`` as it happens."""
CHUNK_ATTEMPTS = 3
"""A chunk whose insert races a concurrent writer (PostgreSQL unique keys) is redone from a fresh read."""

ProblemHandler = Callable[[RowProblem], None]
FilesHandler = Callable[[Sequence[SniffedFile]], None]
ProgressHandler = Callable[[SniffedFile, int], None]


def import_paths(
    db: Database,
    paths: Sequence[Path],
    *,
    source: str | None = None,
    dry_run: bool = False,
    on_problem: ProblemHandler | None = None,
    chunk_rows: int | None = None,
    workers: int | None = None,
    overrides: Sequence[str] = (),
    on_files: FilesHandler | None = None,
    on_progress: ProgressHandler | None = None,
) -> ImportReport:
    """Import contact files into the store (or, with ``dry_run``, only report what would happen).

    ``source`` names the source of rows that have no ``source`` cell (default: the file's name);
    ``overrides`` are ``--map COLUMN=FIELD`` items, each naming a column of at least one file.
    Raises ``ImportFileRefused`` before writing anything when any file is not CSV, JSON Lines or
    XLSX, ``UsageError`` for a bad override. ``on_files`` gets the files as sniffed (their mapping)
    before any row is read; ``on_progress`` the file and the line reached after each chunk.
    """
    settings = get_settings()
    started = time.monotonic()
    files = [sniff(Path(path), overrides) for path in paths]
    _check_overrides(files, overrides)
    if on_files is not None:
        on_files(files)
    tally = _Tally(on_problem)
    now = utcnow()
    size = chunk_rows or settings.import_chunk_rows
    worker_count = settings.import_workers if workers is None else workers
    dry_state = LinkState() if dry_run else None
    to_read = [FileToRead(file, (source or file.name)[:SOURCE_LENGTH]) for file in files]
    with relaxed_collector():
        for file, chunk in normalised_chunks(to_read, now, size, worker_count):
            records, suppressed = _screened(db, tally.take(chunk))
            for record in suppressed:
                tally.problem(RowProblem(file.name, record.line, "suppressed"))
            tally.numbers(records)
            if on_progress is not None and chunk:
                on_progress(file, chunk[-1].line)
            if dry_state is not None:
                with db.read() as conn:
                    tally.add(link(conn, dry_state, records))
            else:
                tally.add(_store_chunk(db, records, now, bulk=True))
    if dry_state is None:
        tally.created = _people_created(db, now)
    return tally.report(tuple(file.name for file in files), dry_run, time.monotonic() - started)


def _check_overrides(files: Sequence[SniffedFile], overrides: Sequence[str]) -> None:
    """Every ``--map`` item names a column of some file (as ``trova bulk`` requires of its one file)."""
    for item in overrides:
        if not any(item in file.overrides_used for file in files):
            if len(files) == 1:
                raise UsageError(missing_column(item, files[0].columns).message)
            column = item.partition("=")[0]
            raise UsageError(f"--map {item!r}: no column {column!r} in any of the files")


def _people_created(db: Database, now: dt.datetime) -> int:
    """People this import created and that are still there: every person it creates carries the
    import's timestamp, and counting them at the end leaves out those that a later row merged into
    another (two companies found to be one, say), which a count per chunk cannot know."""
    with db.read() as conn:
        return repo.people_created_at(conn, now)


def _store_chunk(
    db: Database, records: list[ContactRecord], now: dt.datetime, *, bulk: bool = False
) -> LinkOutcome:
    """Link one chunk into the store in one write transaction (redone if a concurrent writer races it).

    ``bulk`` (file imports) gives the connection a large page cache; records stored one by one by
    a server process leave its pooled connections as they are.
    """
    for attempt in range(1, CHUNK_ATTEMPTS + 1):
        try:
            with db.write() as conn:
                if bulk:
                    repo.prepare_bulk_writes(conn)
                state = LinkState()
                outcome = link(conn, state, records)
                write(conn, state, now)
                return outcome
        except IntegrityError:
            if attempt == CHUNK_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def store_records(db: Database, records: list[ContactRecord], now: dt.datetime) -> int:
    """Link already-normalised records into the store, exactly as an imported chunk is linked.

    Used by the upstream sources (``trova.sources``) to keep what a provider returned, so that
    the same person is answered locally next time; returns how many observations were added.
    """
    records, _suppressed = _screened(db, records)
    if not records:
        return 0
    return _store_chunk(db, records, now).stored


def _screened(db: Database, records: list[ContactRecord]) -> tuple[list[ContactRecord], list[ContactRecord]]:
    """``(records the suppression list allows, records it refuses)``: an erased or suppressed person
    or number is never stored again, whether it comes from a file or from an upstream source."""
    if not records:
        return [], []
    with db.read() as conn:
        return screen_records(conn, records)


# --- the report -----------------------------------------------------------------------------------


class _Tally:
    """Counts as the import goes; problems go to ``on_problem`` at once and the first ones are kept."""

    def __init__(self, on_problem: ProblemHandler | None) -> None:
        self.on_problem = on_problem
        self.rows_read = 0
        self.skipped: Counter[SkipReason] = Counter()
        self.problems: list[RowProblem] = []
        self.problems_not_kept = 0
        self.stored = 0
        self.duplicates = 0
        self.created = 0
        self.updated: set[int] = set()
        self.numbers_read = 0
        self.unusable: Counter[str] = Counter()

    def take(self, chunk: Normalised) -> list[ContactRecord]:
        """The chunk's records; its problems are counted and reported."""
        self.rows_read += len(chunk)
        records: list[ContactRecord] = []
        for item in chunk:
            if isinstance(item, RowProblem):
                self.problem(item)
            else:
                records.append(item)
        return records

    def problem(self, problem: RowProblem) -> None:
        """Count a skipped row, pass it to ``on_problem`` and keep it if there is room."""
        self.skipped[problem.reason] += 1
        if self.on_problem is not None:
            self.on_problem(problem)
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(problem)
        else:
            self.problems_not_kept += 1

    def numbers(self, records: list[ContactRecord]) -> None:
        """Count the numbers of the records to link, and those that may never be returned by why."""
        for record in records:
            self.numbers_read += len(record.phones)
            for phone in record.phones:
                if phone.line_type not in RETURNABLE_LINES or not phone.valid:
                    reason = exclusion(phone.e164, phone.valid, phone.line_type)
                    if reason is not None:
                        self.unusable[reason] += 1

    def add(self, outcome: LinkOutcome) -> None:
        self.stored += outcome.stored
        self.duplicates += outcome.duplicates
        self.created += len(outcome.created)
        self.updated |= outcome.updated

    def report(self, files: tuple[str, ...], dry_run: bool, elapsed_s: float) -> ImportReport:
        return ImportReport(
            files=files,
            rows_read=self.rows_read,
            records_stored=self.stored,
            duplicates=self.duplicates,
            people_created=self.created,
            people_updated=len(self.updated),
            skipped=dict(self.skipped),
            problems=tuple(self.problems),
            problems_not_kept=self.problems_not_kept,
            dry_run=dry_run,
            elapsed_s=elapsed_s,
            numbers_read=self.numbers_read,
            unusable_numbers=dict(self.unusable),
        )
