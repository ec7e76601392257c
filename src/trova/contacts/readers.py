"""Reading contact files: sniffing, CSV (comma/semicolon/tab), JSON Lines and XLSX, gzip, BOM, the
column mapping (header aliases, every phone column by kind, ``--map`` overrides).

Everything streams: a file is read row by row, so memory does not grow with its size. A file is
sniffed (:func:`sniff`) before anything is imported, and refused with :class:`ImportFileRefused` when
it is empty, binary, not UTF-8, not a workbook, or neither CSV with a known header nor JSON Lines.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import orjson

from trova.contacts.models import FileFormat, RawRow, RowProblem
from trova.errors import ImportFileRefused, TableError, UsageError
from trova.people.columns import (
    COLUMN_ALIASES,
    IMPORT_FIELDS,
    PHONE_FIELDS,
    apply_overrides,
    header_key,
    import_field,
)
from trova.people.normalise import split_phone_cell
from trova.people.sheets import NotAWorkbook, looks_like_xlsx, sheet_rows

SNIFF_BYTES = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
DELIMITERS = (",", ";", "\t")
IDENTITY_COLUMNS = ("linkedin_url", "first_name", "last_name", "full_name")
REPLACEMENT_CHAR = "\ufffd"
MULTI_FIELDS = frozenset(PHONE_FIELDS)
_FIELD_ALIASES = {header_key(alias): field for field, aliases in COLUMN_ALIASES.items()
                  for alias in aliases if field != "phone"}

csv.field_size_limit(1024 * 1024)


@dataclass(frozen=True, slots=True)
class SniffedFile:
    """A file that passed sniffing: how to read it."""

    path: Path
    name: str
    compressed: bool
    format: FileFormat
    delimiter: str
    columns: tuple[str, ...] = ()
    """The header (CSV, XLSX) or the keys of the first object (JSON Lines)."""
    mapping: tuple[str | None, ...] = ()
    """The field each of ``columns`` is read as (None: ignored), aliases and ``--map`` applied."""
    overrides_used: frozenset[str] = frozenset()
    """The ``--map`` items that named a column of this file."""

    @property
    def keys(self) -> dict[str, str | None]:
        """JSON Lines: key -> field for the keys the mapping decided (others by their aliases)."""
        return dict(zip(self.columns, self.mapping, strict=True))


def sniff(path: Path, overrides: Sequence[str] = ()) -> SniffedFile:
    """Decide how to read ``path`` and which field each column is, or refuse it (``ImportFileRefused``)
    before anything is written; a bad ``--map`` item in ``overrides`` is a ``UsageError``."""
    name = path.name
    try:
        compressed = _is_gzip(path)
        head = _read_head(path, compressed)
    except OSError as exc:
        raise ImportFileRefused(f"{name}: cannot read: {exc.strerror or exc}") from exc
    if not compressed and looks_like_xlsx(path, head[:4]):
        header = _sheet_header(path)
        return _mapped(SniffedFile(path, name, False, "xlsx", ","), header, overrides, check=True)
    text = _decode_head(name, head, complete=len(head) < SNIFF_BYTES)
    first = _first_line(text)
    if first is None:
        raise ImportFileRefused(f"{name}: empty (no header line)")
    if first.lstrip().startswith("{"):
        keys = _first_keys(first)
        return _mapped(SniffedFile(path, name, compressed, "jsonl", ","), keys, overrides, check=False)
    if first.lstrip().startswith("["):
        raise ImportFileRefused(f"{name}: a JSON array is not JSON Lines (write one object a line)")
    delimiter = _guess_delimiter(first)
    header = _parse_header(first, delimiter)
    return _mapped(SniffedFile(path, name, compressed, "csv", delimiter), header, overrides, check=True)


def _mapped(sniffed: SniffedFile, header: list[str], overrides: Sequence[str], *, check: bool) -> SniffedFile:
    """``sniffed`` with its columns mapped: aliases, phone columns by kind, then ``--map``."""
    columns = [cell.strip() for cell in header]
    auto = {column: field for column in columns if (field := import_field(column)) is not None}
    try:
        mapping, used = apply_overrides(
            auto, columns, overrides, IMPORT_FIELDS, _FIELD_ALIASES, repeatable=MULTI_FIELDS, missing_ok=True
        )
    except TableError as exc:
        raise UsageError(exc.message) from None
    if check:
        _check_header(sniffed.name, header, set(mapping.values()))
    fields = tuple(mapping.get(column) for column in columns)
    return SniffedFile(
        sniffed.path, sniffed.name, sniffed.compressed, sniffed.format, sniffed.delimiter,
        tuple(columns), fields, frozenset(used),
    )


def _sheet_header(path: Path) -> list[str]:
    rows = sheet_rows(path)
    try:
        for cells in rows:
            if any(cell.strip() for cell in cells):
                return cells
    except NotAWorkbook as exc:
        raise ImportFileRefused(f"{path.name}: not an XLSX workbook ({exc})") from None
    finally:
        rows.close()
    raise ImportFileRefused(f"{path.name}: empty (no header line)")


def _first_keys(line: str) -> list[str]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return []
    return [str(key) for key in value] if isinstance(value, dict) else []


def read_rows(sniffed: SniffedFile) -> Iterator[RawRow | RowProblem]:
    """Every data row of the file in order, or a problem for a row that cannot be read."""
    if sniffed.format == "xlsx":
        yield from _xlsx_rows(sniffed)
        return
    fields = list(sniffed.mapping)
    with _open_text(sniffed) as text:
        if sniffed.format == "jsonl":
            yield from _jsonl_rows(sniffed.name, text, sniffed.keys)
        else:
            yield from _csv_rows(sniffed.name, text, sniffed.delimiter, fields)


def phone_cells(fields: Mapping[str, str]) -> list[tuple[str, str]]:
    """Every number of a row with the phone field (kind) its column gave it, first kind kept."""
    numbers: dict[str, str] = {}
    for kind in PHONE_FIELDS:
        cell = fields.get(kind)
        if cell:
            for raw in split_phone_cell(cell):
                numbers.setdefault(raw, kind)
    return list(numbers.items())


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


def _check_header(name: str, header: list[str], columns: set[str]) -> None:
    if not columns:
        shown = (",".join(header))[:80]
        raise ImportFileRefused(
            f"{name}: not a CSV with a known header nor JSON Lines (first line: {shown!r}); "
            "map columns with --map COLUMN=FIELD"
        )
    if not columns & MULTI_FIELDS:
        aliases = ", ".join(COLUMN_ALIASES["phone"])
        raise ImportFileRefused(
            f"{name}: no phone column in the header (one of: {aliases}, or --map COLUMN=phone)"
        )
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


def _csv_rows(
    name: str, text: IO[str], delimiter: str, columns: list[str | None]
) -> Iterator[RawRow | RowProblem]:
    reader = csv.reader(text, delimiter=delimiter)
    header: list[str] | None = None
    previous_line = 0
    for cells in reader:
        line = previous_line + 1
        previous_line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = cells
            continue
        yield _csv_row(name, line, cells, columns)


def _xlsx_rows(sniffed: SniffedFile) -> Iterator[RawRow | RowProblem]:
    """The data rows of a workbook's first sheet; line numbers are its row numbers."""
    columns = list(sniffed.mapping)
    seen_header = False
    try:
        for line, cells in enumerate(sheet_rows(sniffed.path), start=1):
            if not any(cell.strip() for cell in cells):
                continue
            if not seen_header:
                seen_header = True
                continue
            if len(cells) < len(columns):
                cells += [""] * (len(columns) - len(cells))  # a sheet's row ends at its last value
            yield _csv_row(sniffed.name, line, cells, columns)
    except NotAWorkbook as exc:
        raise ImportFileRefused(f"{sniffed.name}: not an XLSX workbook ({exc})") from None


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
    elif column in MULTI_FIELDS:
        fields[column] = f"{current};{value}"


def _jsonl_rows(name: str, text: IO[str], keys: dict[str, str | None]) -> Iterator[RawRow | RowProblem]:
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
        yield RawRow(line, _json_fields(value, keys))


def _json_fields(value: dict[str, object], keys: dict[str, str | None]) -> dict[str, str]:
    """The object's values by field; ``keys`` (the mapping, extended as new keys appear) decides."""
    fields: dict[str, str] = {}
    for key, cell in value.items():
        try:
            column = keys[key]
        except KeyError:
            column = keys[key] = import_field(str(key))
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
