"""Lead files for ``trova bulk``: CSV / TSV / JSON Lines (optionally gzip), read twice, written once.

The bulk tool reads its input twice (once to plan, once to write the output) so that memory does not
grow with the width of the file; both passes see the same rows in the same order.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from trova.errors import TableError
from trova.people.columns import COLUMN_ALIASES, header_key

Format = Literal["csv", "tsv", "jsonl"]
FORMAT_SUFFIXES: dict[str, Format] = {
    ".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".tab": "tsv",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
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


def output_format(path: Path, fallback: TableFormat) -> TableFormat:
    kind, compressed = _suffix_format(path)
    if kind is None:
        return TableFormat(fallback.kind, fallback.delimiter, compressed)
    if kind == fallback.kind:
        return TableFormat(kind, fallback.delimiter, compressed)
    return TableFormat(kind, "\t" if kind == "tsv" else ",", compressed)


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
        if table.fmt.kind != "jsonl":
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

    def records(self) -> Iterator[Record]:
        """Every data row in file order; blank lines are skipped; decoding errors are fatal."""
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
        reader = csv.reader(handle, delimiter=self.fmt.delimiter)
        width, seen_header = len(self.columns), False
        start = 1
        try:
            for cells in reader:
                line, start = start, reader.line_num + 1
                if not any(cell.strip() for cell in cells):
                    continue
                if not seen_header:
                    seen_header = True
                    continue
                values = dict(zip(self.columns, cells, strict=False))
                problem = None
                if len(cells) != width:
                    problem = f"wrong column count (expected {width}, got {len(cells)})"
                yield Record(line, values, tuple(cells[width:]), problem)
        except csv.Error as exc:
            raise TableError(f"{self.path}, line {reader.line_num}: {exc}") from None

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
    result = dict(mapping)
    by_key = {header_key(c): c for c in columns}
    for item in overrides:
        column_text, sep, field_text = item.partition("=")
        if not sep:
            raise TableError(f"--map {item!r}: expected COLUMN=FIELD")
        column = column_text if column_text in columns else by_key.get(header_key(column_text))
        if column is None:
            raise TableError(f"--map {item!r}: no column {column_text!r} (columns: {', '.join(columns)})")
        wanted = field_text.strip().lower()
        if wanted in ("", IGNORE, "none", "ignore"):
            result.pop(column, None)
            continue
        wanted = _ALIAS_INDEX.get(header_key(wanted), wanted)
        if wanted not in SEARCH_FIELDS:
            known = ", ".join(SEARCH_FIELDS)
            raise TableError(f"--map {item!r}: unknown field {field_text!r} (fields: {known})")
        for other, taken in list(result.items()):
            if taken == wanted:
                del result[other]
        result[column] = wanted
    return result


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
        raw: IO[bytes] = os.fdopen(fd, "wb")
        binary: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="wb") if fmt.gzip else raw  # type: ignore[assignment]
        self._raw, self._binary = raw, binary
        self.handle = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        self.csv = csv.writer(self.handle, delimiter=fmt.delimiter) if fmt.kind != "jsonl" else None
        if self.csv is not None:
            self.csv.writerow(self.columns)

    def write(self, record: Record, added: Mapping[str, str]) -> None:
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
            self.handle.close()
        finally:
            self.tmp.unlink(missing_ok=True)
