"""Rows to normalised records, in this process or in reader processes beside the writer.

A file is read and normalised by one process from its first row to its last, so rows, line numbers
and problems come out exactly as a plain sequential read gives them. With ``workers`` ≥ 1 that
process is a *reader* started with ``spawn`` (it inherits no database connection): it streams
normalised chunks back through a bounded queue while the importing process writes the previous
ones, so the two cores split the work (reading and normalising there; linking and writing here)
and neither holds more than a few chunks. Reader *k* takes files *k*, *k + workers*, …, so with
one reader the files are read one after another by the same process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing
import queue
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from typing import Any

from trova.contacts.models import ContactRecord, PhoneValue, RawRow, RowProblem
from trova.contacts.readers import SniffedFile, read_rows
from trova.errors import ImportFailed
from trova.people.normalise import (
    company_key,
    linkedin_key,
    name_key,
    parse_phone,
    registrable_domain,
    split_full_name,
    split_phone_cell,
)

KEY_LENGTH = 255
NAME_KEY_LENGTH = 200
SOURCE_LENGTH = 200
RAW_LENGTH = 500
PARALLEL_MIN_BYTES = 4_000_000
"""Below this total size, starting a reader process (about a second) costs more than it saves."""
CHUNKS_AHEAD = 4
"""Normalised chunks a reader may have ready before the writer takes them: keeps both cores busy
when one of them is briefly slower, and bounds the memory the queue holds."""
READER_POLL_S = 1.0
"""How often the writer, waiting for a chunk, checks that its reader is still alive."""
READER_CACHE_ENTRIES = 32_768
"""The normalisers cache up to 262,144 results each; a reader that lives for many files empties
them past this size, so its memory stays flat (repeats within a file are mostly close together)."""

Normalised = list[ContactRecord | RowProblem]


@dataclass(frozen=True, slots=True)
class FileToRead:
    """A sniffed file and the source its rows without a ``source`` cell are credited to."""

    file: SniffedFile
    default_source: str


def normalised_chunks(
    files: Sequence[FileToRead], now: dt.datetime, size: int, workers: int
) -> Iterator[tuple[SniffedFile, Normalised]]:
    """Every file's rows, normalised, in chunks of at most ``size`` rows, files and rows in order.

    ``workers`` = 0 reads here; otherwise ``min(workers, len(files))`` reader processes do.
    Raises ``ImportFailed`` if a reader fails or dies.
    """
    if workers <= 0 or _total_bytes(file.file for file in files) < PARALLEL_MIN_BYTES:
        for item in files:
            for chunk in _file_chunks(item, now, size):
                yield item.file, chunk
        return
    readers = _start_readers(files, now, size, min(workers, len(files)))
    try:
        for position, item in enumerate(files):
            for chunk in _drain(readers[position % len(readers)], item.file.name):
                yield item.file, chunk
    finally:
        _stop(readers)


# --- reader processes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FileDone:
    name: str


@dataclass(frozen=True, slots=True)
class _ReaderFailed:
    name: str
    error: str


@dataclass(frozen=True, slots=True)
class _Reader:
    process: SpawnProcess
    chunks: Any


def _start_readers(files: Sequence[FileToRead], now: dt.datetime, size: int, count: int) -> list[_Reader]:
    context = multiprocessing.get_context("spawn")
    readers = []
    for index in range(count):
        chunks = context.Queue(maxsize=CHUNKS_AHEAD)
        process = context.Process(
            target=read_in_process,
            args=(list(files[index::count]), now, size, chunks),
            name=f"trova-import-reader-{index}",
            daemon=True,
        )
        process.start()
        readers.append(_Reader(process, chunks))
    return readers


def read_in_process(files: Sequence[FileToRead], now: dt.datetime, size: int, chunks: Any) -> None:
    """A reader process: each file's normalised chunks, then a marker that the file is done."""
    for item in files:
        try:
            for chunk in _file_chunks(item, now, size):
                chunks.put(chunk)
                _bound_caches()
        except Exception as error:
            chunks.put(_ReaderFailed(item.file.name, f"{type(error).__name__}: {error}"))
            return
        chunks.put(_FileDone(item.file.name))


def _drain(reader: _Reader, name: str) -> Iterator[Normalised]:
    while True:
        item = _next(reader, name)
        if isinstance(item, _FileDone):
            return
        if isinstance(item, _ReaderFailed):
            raise ImportFailed(f"{item.name}: {item.error}")
        yield item


def _next(reader: _Reader, name: str) -> Any:
    """The reader's next item; a reader that exited without one has died (killed, out of memory)."""
    while True:
        try:
            return reader.chunks.get(timeout=READER_POLL_S)
        except queue.Empty:
            if reader.process.is_alive():
                continue
        try:
            return reader.chunks.get(timeout=READER_POLL_S)
        except queue.Empty:
            code = reader.process.exitcode
            raise ImportFailed(f"{name}: the reader process stopped (exit code {code})") from None


def _stop(readers: Iterable[_Reader]) -> None:
    for reader in readers:
        if reader.process.is_alive():
            reader.process.terminate()
        reader.process.join()
        reader.chunks.close()
        reader.chunks.cancel_join_thread()


def _bound_caches() -> None:
    cached = (name_key, company_key, registrable_domain)
    if any(function.cache_info().currsize > READER_CACHE_ENTRIES for function in cached):
        for function in cached:
            function.cache_clear()


def _total_bytes(files: Iterable[SniffedFile]) -> int:
    return sum(file.path.stat().st_size * (6 if file.compressed else 1) for file in files)


def _file_chunks(item: FileToRead, now: dt.datetime, size: int) -> Iterator[Normalised]:
    for rows in _chunks(read_rows(item.file), size):
        yield normalise_chunk(item.file.name, item.default_source, rows, now)


def _chunks(rows: Iterator[RawRow | RowProblem], size: int) -> Iterator[list[RawRow | RowProblem]]:
    chunk: list[RawRow | RowProblem] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- one row ---------------------------------------------------------------------------------------


def normalise_chunk(
    file_name: str, default_source: str, rows: Sequence[RawRow | RowProblem], now: dt.datetime
) -> Normalised:
    """Each row as a normalised record, or the problem that makes it unusable."""
    return [
        row if isinstance(row, RowProblem) else normalise_row(file_name, default_source, row, now)
        for row in rows
    ]


def normalise_row(
    file_name: str, default_source: str, row: RawRow, now: dt.datetime
) -> ContactRecord | RowProblem:
    """One row normalised per FINDER.md §1; a problem when it lacks a number or a person or has a bad date."""
    fields = row.fields
    numbers = split_phone_cell(fields.get("phone", ""))
    if not numbers:
        return RowProblem(file_name, row.line, "no number")
    person = _person_keys(fields)
    if isinstance(person, str):
        return RowProblem(file_name, row.line, "no person", person)
    observed = _observed_at(fields.get("observed_at", ""), now)
    if observed is None:
        return RowProblem(file_name, row.line, "bad date", repr(fields.get("observed_at", ""))[:60])
    li_key, first, last, domain, company = person
    source = (fields.get("source") or default_source)[:SOURCE_LENGTH]
    hint = _country_hint(fields.get("country", ""))
    identity = f"li:{li_key}" if li_key else f"nm:{first}|{last}|{domain or 'co:' + str(company)}"
    day = observed.date().isoformat() if fields.get("observed_at") else ""
    phones = tuple(_phone_value(raw, hint, source, identity, day) for raw in dict.fromkeys(numbers))
    return ContactRecord(
        line=row.line,
        linkedin_key=li_key,
        first_key=first,
        last_key=last,
        company_key=company,
        domain=domain,
        phones=phones,
        country_hint=hint,
        source=source,
        observed_at=observed,
    )


PersonKeys = tuple[str | None, str, str, str | None, str | None]


def _person_keys(fields: dict[str, str] | Any) -> PersonKeys | str:
    """(linkedin key, first key, last key, domain, company key), or why the row names nobody."""
    li_text = fields.get("linkedin_url", "")
    li_key = linkedin_key(li_text) if li_text else None
    if li_key is not None and len(li_key) > KEY_LENGTH:
        li_key = None
    first, last = _name_keys(fields)
    domain_text, company_text = fields.get("company_domain", ""), fields.get("company_name", "")
    domain = registrable_domain(domain_text) if domain_text else None
    company = company_key(company_text) if company_text else None
    domain = domain if domain and len(domain) <= KEY_LENGTH else None
    company = company[:KEY_LENGTH] if company else None
    if li_key is None and not (first and last and (domain or company)):
        return _why_nobody(li_text, first, last)
    return li_key, first, last, domain, company


def _name_keys(fields: dict[str, str] | Any) -> tuple[str, str]:
    first, last = name_key(fields.get("first_name", "")), name_key(fields.get("last_name", ""))
    if not (first and last) and fields.get("full_name"):
        parts = split_full_name(fields["full_name"])
        if parts is not None:
            first, last = name_key(parts[0]), name_key(parts[1])
    return first[:NAME_KEY_LENGTH], last[:NAME_KEY_LENGTH]


def _why_nobody(li_text: str, first: str, last: str) -> str:
    if li_text:
        return "linkedin_url is not a profile URL"
    if first and last:
        return "names without a company name or domain"
    return "no LinkedIn URL and no first and last name"


def _observed_at(text: str, now: dt.datetime) -> dt.datetime | None:
    """The observation time as naive UTC; import time when empty; None when unparseable."""
    text = text.strip()
    if not text:
        return now
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _country_hint(text: str) -> str | None:
    code = text.strip().upper()
    return code if len(code) == 2 and code.isalpha() and code.isascii() else None


def _phone_value(raw: str, hint: str | None, source: str, identity: str, day: str) -> PhoneValue:
    reading = parse_phone(raw, hint)
    number = reading.e164 if reading else f"raw:{raw}"
    digest = hashlib.blake2b(f"{source}\x1f{identity}\x1f{number}\x1f{day}".encode(), digest_size=16)
    if reading is None:
        return PhoneValue(raw[:RAW_LENGTH], None, False, None, None, digest.hexdigest())
    return PhoneValue(
        raw[:RAW_LENGTH], reading.e164, reading.valid, reading.line_type, reading.region, digest.hexdigest()
    )


