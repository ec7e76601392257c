"""Lead files for ``trova bulk``: CSV / TSV / JSON Lines (optionally gzip) or XLSX, read twice, written once.

The bulk tool reads its input twice (once to plan, once to write the output) so that memory does not
grow with the width of the file; both passes see the same rows in the same order. An XLSX workbook
is streamed (its first sheet, :mod:`trova.people.sheets`) and written with openpyxl's write-only
mode, never held whole in memory.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from trova.errors import TableError, UsageError
from trova.people import columns as columns_mapping
from trova.people.columns import COLUMN_ALIASES, header_key
from trova.people.sheets import NotAWorkbook, looks_like_xlsx, sheet_rows

Format = Literal["csv", "tsv", "jsonl", "xlsx"]
FORMAT_SUFFIXES: dict[str, Format] = {
    ".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".tab": "tsv",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".xlsx": "xlsx", ".xlsm": "xlsx",
}
SEARCH_FIELDS = ("linkedin_url", "first_name", "last_name", "full_name", "company_name", "company_domain")
ALIASES: Mapping[str, tuple[str, ...]] = {field: COLUMN_ALIASES[field] for field in SEARCH_FIELDS}
IGNORE = "-"

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


_ALIAS_INDEX = {header_key(alias): field for field, aliases in ALIASES.items() for alias in aliases}


@dataclass(frozen=True, slots=True)
class Record:
    """One data row, by column name; ``problem`` says why it is malformed, if it is.

    ``extra`` holds CSV cells beyond the header; ``original`` the JSON object as read; ``text`` a
    JSON line that is not an object.
    """

    line: int
    values: Mapping[str, str]
    extra: tuple[str, ...] = ()
    problem: str | None = None
    original: Mapping[str, Any] | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class TableFormat:
    kind: Format
    delimiter: str = ","
    gzip: bool = False
    bom: bool = False
    """A UTF-8 byte-order mark first (``--excel``), so that Excel reads the text as UTF-8."""


def _suffix_format(path: Path) -> tuple[Format | None, bool]:
    suffixes = [s.lower() for s in path.suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    if compressed:
        suffixes = suffixes[:-1]
    return (FORMAT_SUFFIXES.get(suffixes[-1]) if suffixes else None), compressed


def _open_text(path: Path, compressed: bool, encoding: str) -> IO[str]:
    if compressed:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")


def not_text(path: Path, encoding: str) -> str:
    name = "UTF-8" if encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig") else encoding
    return f"{path} is not {name} text (use --encoding, e.g. --encoding latin-1)"


def _sniff_delimiter(sample: str, default: str) -> str:
    first_line = sample.splitlines()[0] if sample else ""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else default


def detect_format(path: Path, encoding: str) -> TableFormat:
    """From the suffix (``.csv``, ``.tsv``, ``.jsonl``, each optionally ``.gz``), else from the content."""
    kind, compressed = _suffix_format(path)
    try:
        with open(path, "rb") as raw:
            if kind == "xlsx" or (not compressed and looks_like_xlsx(path, raw.read(4))):
                return TableFormat("xlsx")
        with _open_text(path, compressed, encoding) as handle:
            sample = handle.read(64 * 1024)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise TableError(f"cannot read {path}: {exc}") from None
    except UnicodeDecodeError:
        raise TableError(not_text(path, encoding)) from None
    if "\x00" in sample:
        raise TableError(f"{path} is not a CSV or JSON Lines file (binary content)")
    if kind is None:
        kind = "jsonl" if sample.lstrip().startswith("{") else "csv"
    if kind == "jsonl":
        return TableFormat("jsonl", gzip=compressed)
    delimiter = _sniff_delimiter(sample, "\t" if kind == "tsv" else ",")
    return TableFormat("tsv" if delimiter == "\t" else "csv", delimiter, compressed)


def output_format(path: Path, fallback: TableFormat, *, bom: bool = False) -> TableFormat:
    """The output's format from its suffix: XLSX for ``.xlsx``, else the input's text format (CSV for
    an XLSX input) unless the suffix names another; ``bom`` for CSV/TSV read by Excel."""
    kind, compressed = _suffix_format(path)
    if kind is None:
        kind = fallback.kind if fallback.kind != "xlsx" else "csv"
        if path.suffix.lower() in (".xls", ".ods"):
            raise UsageError(f"-o {path}: only .xlsx workbooks are written (or CSV, TSV, JSON Lines)")
    if kind == "xlsx":
        return TableFormat("xlsx")
    if bom and kind == "jsonl":
        raise UsageError("--excel adds a byte-order mark to CSV or TSV output, not to JSON Lines")
    delimiter = fallback.delimiter if kind == fallback.kind else "\t" if kind == "tsv" else ","
    return TableFormat(kind, delimiter, compressed, bom and not compressed)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return orjson.dumps(value).decode()
    return orjson.dumps(value).decode()


@dataclass(slots=True)
class Table:
    """An input file: its format, its columns (header, or JSON keys in first-seen order) and its rows."""

    path: Path
    fmt: TableFormat
    encoding: str = "utf-8-sig"
    columns: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path, encoding: str = "utf-8-sig") -> Table:
        if not path.is_file():
            raise TableError(f"{path}: no such file")
        table = cls(path, detect_format(path, encoding), encoding)
        if table.fmt.kind == "xlsx":
            table.columns = table._xlsx_header()
        elif table.fmt.kind != "jsonl":
            table.columns = table._csv_header()
        return table

    def scan_columns(self) -> list[str]:
        """The columns; for JSON Lines that takes a pass over the file (keys in first-seen order)."""
        if self.fmt.kind == "jsonl" and not self.columns:
            for _ in self.records():
                pass
        return self.columns

    def _csv_header(self) -> list[str]:
        with _open_text(self.path, self.fmt.gzip, self.encoding) as handle:
            for cells in csv.reader(handle, delimiter=self.fmt.delimiter):
                if any(cell.strip() for cell in cells):
                    return [cell.strip() for cell in cells]
        raise TableError(f"{self.path} is empty (no header line)")

    def _xlsx_header(self) -> list[str]:
        for cells in self._sheet_rows():
            if any(cell.strip() for cell in cells):
                return [cell.strip() for cell in cells]
        raise TableError(f"{self.path} is empty (no header line)")

    def _sheet_rows(self) -> Iterator[list[str]]:
        try:
            yield from sheet_rows(self.path)
        except NotAWorkbook as exc:
            raise TableError(f"{self.path} is not an XLSX workbook ({exc})") from None

    def _xlsx_records(self) -> Iterator[Record]:
        width, seen_header = len(self.columns), False
        for line, cells in enumerate(self._sheet_rows(), start=1):
            if not any(cell.strip() for cell in cells):
                continue
            if not seen_header:
                seen_header = True
                continue
            values = dict(zip(self.columns, cells, strict=False))
            problem = None
            if len(cells) > width:
                problem = f"wrong column count (expected {width}, got {len(cells)})"
            yield Record(line, values, tuple(cells[width:]), problem)

    def records(self) -> Iterator[Record]:
        """Every data row in file order; blank lines are skipped; decoding errors are fatal."""
        if self.fmt.kind == "xlsx":
            yield from self._xlsx_records()
            return
        try:
            with _open_text(self.path, self.fmt.gzip, self.encoding) as handle:
                if self.fmt.kind == "jsonl":
                    yield from self._json_records(handle)
                else:
                    yield from self._csv_records(handle)
        except UnicodeDecodeError:
            raise TableError(not_text(self.path, self.encoding)) from None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise TableError(f"cannot read {self.path}: {exc}") from None

    def _csv_records(self, handle: IO[str]) -> Iterator[Record]:
        width = len(self.columns)
        for line, cells in self._csv_rows(handle):
            values = dict(zip(self.columns, cells, strict=False))
            problem = None
            if len(cells) != width:
                problem = f"wrong column count (expected {width}, got {len(cells)})"
            yield Record(line, values, tuple(cells[width:]), problem)

    def _csv_rows(self, handle: IO[str]) -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(handle, delimiter=self.fmt.delimiter)
        seen_header = False
        start = 1
        try:
            for cells in reader:
                line, start = start, reader.line_num + 1
                if not "".join(cells).strip():
                    continue
                if not seen_header:
                    seen_header = True
                    continue
                yield line, cells
        except csv.Error as exc:
            raise TableError(f"{self.path}, line {reader.line_num}: {exc}") from None

    def mapped_rows(self, mapping: Mapping[str, str]) -> Iterator[tuple[int, dict[str, str] | str]]:
        """Each data row's line and its mapped, non-blank cells by field (or why the row is
        malformed), in file order: what :meth:`records` gives, without building a record per row."""
        if self.fmt.kind in ("jsonl", "xlsx"):
            for record in self.records():
                yield record.line, record.problem or _mapped(record.values, mapping)
            return
        width = len(self.columns)
        last_index = {column: index for index, column in enumerate(self.columns)}
        picks = [(last_index[column], name) for column, name in mapping.items() if column in last_index]
        try:
            with _open_text(self.path, self.fmt.gzip, self.encoding) as handle:
                for line, cells in self._csv_rows(handle):
                    if len(cells) != width:
                        yield line, f"wrong column count (expected {width}, got {len(cells)})"
                        continue
                    params = {}
                    for index, name in picks:
                        value = cells[index].strip()
                        if value:
                            params[name] = value
                    yield line, params
        except UnicodeDecodeError:
            raise TableError(not_text(self.path, self.encoding)) from None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise TableError(f"cannot read {self.path}: {exc}") from None

    def _json_records(self, handle: IO[str]) -> Iterator[Record]:
        known = set(self.columns)
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                obj = orjson.loads(text)
            except orjson.JSONDecodeError:
                yield Record(number, {}, problem="not valid JSON", text=text.rstrip("\r\n"))
                continue
            if not isinstance(obj, dict):
                yield Record(number, {}, problem="not a JSON object", text=text.rstrip("\r\n"))
                continue
            for key in obj:
                if key not in known:
                    known.add(key)
                    self.columns.append(key)
            yield Record(number, {k: _cell(v) for k, v in obj.items()}, (), None, obj)


def _mapped(values: Mapping[str, str], mapping: Mapping[str, str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for column, name in mapping.items():
        value = values.get(column, "").strip()
        if value:
            params[name] = value
    return params


def auto_mapping(columns: Sequence[str]) -> dict[str, str]:
    """Column -> search field by the aliases of docs/import.md §3; the first column wins when two
    mean one field."""
    mapping: dict[str, str] = {}
    for column in columns:
        wanted = _ALIAS_INDEX.get(header_key(column))
        if wanted is not None and wanted not in mapping.values():
            mapping[column] = wanted
    return mapping


def apply_overrides(
    mapping: Mapping[str, str], columns: Sequence[str], overrides: Sequence[str]
) -> dict[str, str]:
    """Apply ``column=field`` (``column=-`` ignores a column); an overridden field leaves its old column."""
    return columns_mapping.apply_overrides(mapping, columns, overrides, SEARCH_FIELDS, _ALIAS_INDEX)[0]


def identifies_someone(fields: set[str]) -> bool:
    names = {"first_name", "last_name"} <= fields or "full_name" in fields
    return "linkedin_url" in fields or (names and bool(fields & {"company_name", "company_domain"}))


def _file_mode(path: Path) -> int:
    """The mode of the file being replaced, else what ``open`` would give a new file (0666 - umask)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


class TableWriter:
    """Writes the output to a temporary file beside it; :meth:`commit` renames it into place atomically."""

    def __init__(self, path: Path, fmt: TableFormat, columns: Sequence[str], added: Sequence[str]) -> None:
        self.path, self.fmt = path, fmt
        self.columns = [*columns, *(c for c in added if c not in columns)]
        self.width = len(columns)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self.tmp = Path(tmp)
        self.sheet: SheetWriter | None = None
        if fmt.kind == "xlsx":
            os.close(fd)
            self.sheet = SheetWriter(self.tmp, self.columns)
            return
        raw: IO[bytes] = os.fdopen(fd, "wb")
        binary: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="wb") if fmt.gzip else raw  # type: ignore[assignment]
        self._raw, self._binary = raw, binary
        self.handle = io.TextIOWrapper(binary, encoding="utf-8-sig" if fmt.bom else "utf-8", newline="")
        self.csv = csv.writer(self.handle, delimiter=fmt.delimiter) if fmt.kind != "jsonl" else None
        if self.csv is not None:
            self.csv.writerow(self.columns)

    def write(self, record: Record, added: Mapping[str, str]) -> None:
        if self.sheet is not None:
            cells = [added[c] if c in added else record.values.get(c, "") for c in self.columns]
            self.sheet.append([*cells, *record.extra, *([record.text] if record.text is not None else [])])
            return
        if self.csv is None:
            obj: dict[str, Any] = dict(record.original if record.original is not None else record.values)
            if record.text is not None:
                obj["input"] = record.text
            if record.extra:
                obj["extra_cells"] = list(record.extra)
            obj.update(added)
            self.handle.write(orjson.dumps(obj).decode() + "\n")
            return
        cells = [added[c] if c in added else record.values.get(c, "") for c in self.columns]
        self.csv.writerow([*cells, *record.extra, *([record.text] if record.text is not None else [])])

    def commit(self) -> None:
        if self.sheet is not None:
            self.sheet.save()
            os.chmod(self.tmp, _file_mode(self.path))
            os.replace(self.tmp, self.path)
            return
        self.handle.flush()
        self.handle.detach()
        if self._binary is not self._raw:
            self._binary.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        os.chmod(self.tmp, _file_mode(self.path))
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            if self.sheet is None:
                self.handle.close()
        finally:
            self.tmp.unlink(missing_ok=True)


class SheetWriter:
    """An XLSX workbook of one sheet written row by row (openpyxl's write-only mode streams the rows
    to a temporary file, so memory does not grow with them); cells are written as text."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        from openpyxl import Workbook

        self.path = path
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet("leads")
        self.sheet.append(list(header))

    def append(self, cells: Sequence[str]) -> None:
        self.sheet.append([self._cell(text) for text in cells])

    def _cell(self, text: str) -> object:
        """Text as a cell, never a formula; characters XML cannot hold (control characters) dropped."""
        from openpyxl.cell import WriteOnlyCell

        if not text:
            return None
        text = _ILLEGAL_XML.sub("", text)
        if not text.startswith("="):
            return text
        cell = WriteOnlyCell(self.sheet, value=text)
        cell.data_type = "s"
        return cell

    def save(self) -> None:
        self.book.save(self.path)



_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
