"""Reading contact files: sniffing, CSV (comma/semicolon/tab) and JSON Lines, gzip, BOM, header aliases.

Everything streams: a file is read row by row, so memory does not grow with its size. A file is
sniffed (:func:`sniff`) before anything is imported, and refused with :class:`ImportFileRefused` when
it is binary, not UTF-8, or neither CSV with a known header nor JSON Lines.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import orjson

from trova.contacts.models import FileFormat, RawRow, RowProblem
from trova.errors import ImportFileRefused
from trova.people.columns import CANONICAL_BY_HEADER, COLUMN_ALIASES, header_key

SNIFF_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
DELIMITERS = (",", ";", "\t")
IDENTITY_COLUMNS = ("linkedin_url", "first_name", "last_name", "full_name")
REPLACEMENT_CHAR = "\ufffd"

csv.field_size_limit(1024 * 1024)


@dataclass(frozen=True, slots=True)
class SniffedFile:
    """A file that passed sniffing: how to read it."""

    path: Path
    name: str
    compressed: bool
    format: FileFormat
    delimiter: str


def sniff(path: Path) -> SniffedFile:
    """Decide how to read ``path``, or refuse it (``ImportFileRefused``) before anything is written."""
    name = path.name
    try:
        compressed = _is_gzip(path)
        head = _read_head(path, compressed)
    except OSError as exc:
        raise ImportFileRefused(f"{name}: cannot read: {exc.strerror or exc}") from exc
    text = _decode_head(name, head, complete=len(head) < SNIFF_BYTES)
    first = _first_line(text)
    if first is None:
        return SniffedFile(path, name, compressed, "csv", ",")
    if first.lstrip().startswith("{"):
        return SniffedFile(path, name, compressed, "jsonl", ",")
    if first.lstrip().startswith("["):
        raise ImportFileRefused(f"{name}: a JSON array is not JSON Lines (write one object a line)")
    delimiter = _guess_delimiter(first)
    _check_header(name, _parse_header(first, delimiter))
    return SniffedFile(path, name, compressed, "csv", delimiter)


def read_rows(sniffed: SniffedFile) -> Iterator[RawRow | RowProblem]:
    """Every data row of the file in order, or a problem for a row that cannot be read."""
    with _open_text(sniffed) as text:
        if sniffed.format == "jsonl":
            yield from _jsonl_rows(sniffed.name, text)
        else:
            yield from _csv_rows(sniffed.name, text, sniffed.delimiter)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as raw:
        return raw.read(2) == GZIP_MAGIC


def _read_head(path: Path, compressed: bool) -> bytes:
    if not compressed:
        with path.open("rb") as raw:
            return raw.read(SNIFF_BYTES)
    try:
        with gzip.open(path, "rb") as unzipped:
            return unzipped.read(SNIFF_BYTES)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ImportFileRefused(f"{path.name}: not a readable gzip file ({exc})") from exc


def _decode_head(name: str, head: bytes, *, complete: bool) -> str:
    if b"\x00" in head:
        raise ImportFileRefused(f"{name}: binary file, not CSV or JSON Lines text")
    try:
        return head.decode("utf-8-sig") if complete else _decode_prefix(head)
    except UnicodeDecodeError as exc:
        raise ImportFileRefused(f"{name}: not UTF-8 text (byte {exc.start + 1})") from exc


def _decode_prefix(head: bytes) -> str:
    """Decode a prefix cut anywhere, tolerating only a multi-byte character split at its very end."""
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return head[: exc.start].decode("utf-8-sig")
        raise


def _first_line(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip():
            return line
    return None


def _guess_delimiter(line: str) -> str:
    counts = {delimiter: line.count(delimiter) for delimiter in DELIMITERS}
    return max(DELIMITERS, key=lambda delimiter: counts[delimiter])


def _parse_header(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def _check_header(name: str, header: list[str]) -> None:
    columns = {CANONICAL_BY_HEADER.get(header_key(cell)) for cell in header}
    if not columns - {None}:
        shown = (",".join(header))[:80]
        raise ImportFileRefused(
            f"{name}: not a CSV with a known header nor JSON Lines (first line: {shown!r})"
        )
    if "phone" not in columns:
        aliases = ", ".join(COLUMN_ALIASES["phone"])
        raise ImportFileRefused(f"{name}: no phone column in the header (one of: {aliases})")
    if not columns & set(IDENTITY_COLUMNS):
        raise ImportFileRefused(
            f"{name}: no column naming the person (linkedin_url, first_name/last_name or full_name)"
        )


class _open_text:
    """The file as text: gunzipped when needed, BOM dropped, undecodable bytes marked (row skipped)."""

    def __init__(self, sniffed: SniffedFile) -> None:
        self.sniffed = sniffed
        self.binary: IO[bytes] | None = None

    def __enter__(self) -> IO[str]:
        path = self.sniffed.path
        binary: IO[bytes] = (
            cast(IO[bytes], gzip.open(path, "rb")) if self.sniffed.compressed else path.open("rb")
        )
        self.binary = binary
        return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")

    def __exit__(self, *exc: object) -> None:
        if self.binary is not None:
            self.binary.close()


def _csv_rows(name: str, text: IO[str], delimiter: str) -> Iterator[RawRow | RowProblem]:
    reader = csv.reader(text, delimiter=delimiter)
    header: list[str] | None = None
    columns: list[str | None] = []
    previous_line = 0
    for cells in reader:
        line = previous_line + 1
        previous_line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = cells
            columns = [CANONICAL_BY_HEADER.get(header_key(cell)) for cell in cells]
            continue
        yield _csv_row(name, line, cells, columns)


def _csv_row(name: str, line: int, cells: list[str], columns: list[str | None]) -> RawRow | RowProblem:
    if len(cells) != len(columns) and not (
        len(cells) > len(columns) and not any(cell.strip() for cell in cells[len(columns) :])
    ):
        return RowProblem(name, line, "wrong column count", f"{len(cells)} fields, header has {len(columns)}")
    if any(REPLACEMENT_CHAR in cell for cell in cells):
        return RowProblem(name, line, "not UTF-8")
    fields: dict[str, str] = {}
    for column, cell in zip(columns, cells, strict=False):
        if column is not None:
            _merge_cell(fields, column, cell)
    return RawRow(line, fields)


def _merge_cell(fields: dict[str, str], column: str, cell: str) -> None:
    """Several headers may alias one column: numbers are joined, other columns keep the first value."""
    value = cell.strip()
    if not value:
        return
    current = fields.get(column)
    if not current:
        fields[column] = value
    elif column == "phone":
        fields[column] = f"{current};{value}"


def _jsonl_rows(name: str, text: IO[str]) -> Iterator[RawRow | RowProblem]:
    for line, content in enumerate(text, start=1):
        if not content.strip():
            continue
        if REPLACEMENT_CHAR in content:
            yield RowProblem(name, line, "not UTF-8")
            continue
        try:
            value = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            yield RowProblem(name, line, "invalid JSON", str(exc).split(":", 1)[0])
            continue
        if not isinstance(value, dict):
            yield RowProblem(name, line, "invalid JSON", "not an object")
            continue
        yield RawRow(line, _json_fields(value))


def _json_fields(value: dict[str, object]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key, cell in value.items():
        column = CANONICAL_BY_HEADER.get(header_key(str(key)))
        if column is not None:
            _merge_cell(fields, column, _json_text(cell))
    return fields


def _json_text(cell: object) -> str:
    if cell is None or isinstance(cell, bool):
        return ""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, int | float):
        return str(cell)
    if isinstance(cell, list):
        return ";".join(_json_text(item) for item in cell)
    return ""
