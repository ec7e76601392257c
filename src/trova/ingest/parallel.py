"""Reading and normalising contact files in reader processes beside the importing (writing) one.

A file is read and normalised by one process from its first row to its last
(``trova.contacts.normalise.file_chunks``), so rows, line numbers and problems come out exactly as
a plain sequential read gives them. With ``workers`` ≥ 1 that process is a *reader* started with
``spawn`` (it inherits no database connection): it streams normalised chunks back through a
bounded queue while the importing process writes the previous ones, so the two cores split the
work (reading and normalising there; linking and writing here) and neither holds more than a few
chunks. Reader *k* takes files *k*, *k + workers*, …, so with one reader the files are read one
after another by the same process.

This is orchestration (processes, queues, how the work is spread over the cores), so it lives
with the import's orchestrator, not with the row normalisation it runs.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import queue
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from typing import Any

from trova import collector
from trova.contacts.normalise import FileToRead, Normalised, file_chunks
from trova.contacts.readers import SniffedFile
from trova.errors import ImportFailed
from trova.lifeline import die_with_parent
from trova.people.normalise import company_key, name_key, registrable_domain

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


def normalised_chunks(
    files: Sequence[FileToRead], now: dt.datetime, size: int, workers: int
) -> Generator[tuple[SniffedFile, Normalised], None, None]:
    """Every file's rows, normalised, in chunks of at most ``size`` rows, files and rows in order.

    ``workers`` = 0 reads here; otherwise ``min(workers, len(files))`` reader processes do.
    Raises ``ImportFailed`` if a reader fails or dies. Closing the generator early stops the readers.
    """
    if workers <= 0 or _total_bytes(file.file for file in files) < PARALLEL_MIN_BYTES:
        for item in files:
            for chunk in file_chunks(item, now, size):
                yield item.file, chunk
        return
    readers = _start_readers(files, now, size, min(workers, len(files)))
    try:
        for position, item in enumerate(files):
            for chunk in _drain(readers[position % len(readers)], item.file.name):
                yield item.file, chunk
    finally:
        _stop(readers)


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
            args=(list(files[index::count]), now, size, chunks, os.getpid()),
            name=f"trova-import-reader-{index}",
            daemon=True,
        )
        process.start()
        readers.append(_Reader(process, chunks))
    return readers


def read_in_process(
    files: Sequence[FileToRead], now: dt.datetime, size: int, chunks: Any, parent_pid: int
) -> None:
    """A reader process: each file's normalised chunks, then a marker that the file is done. It
    dies with the importing process ``parent_pid`` (``trova.lifeline``): a reader left behind by a
    ``kill -9`` would hold its memory and its file for ever."""
    die_with_parent(parent_pid)
    with collector.relaxed():
        for item in files:
            try:
                for chunk in file_chunks(item, now, size):
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
