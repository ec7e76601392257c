"""Lead files uploaded to the web app: saved to disk as they stream in, read with the bulk tool.

The columns, their aliases, the header matching, the per-row validation, the de-duplication and the
split into batches of at most 3,000 searches are the bulk tool's own (``trova.bulk``); this module
only adds XLSX (converted to CSV once, row by row, by ``trova.people.sheets``) and the limits of an upload.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from trova.bulk.plan import MAX_BATCH_SIZE, Plan, build_plan
from trova.bulk.tabular import FORMAT_SUFFIXES, SEARCH_FIELDS, Table, auto_mapping, identifies_someone
from trova.errors import TableError
from trova.people.sheets import NotAWorkbook, sheet_rows
from trova.web.i18n import N_

PREVIEW_ROWS = 10
CHUNK_BYTES = 256 * 1024

NOT_A_SPREADSHEET = N_("This file is not a spreadsheet: upload a CSV, TSV, XLSX or JSON Lines file.")
TOO_LARGE = N_("This file is larger than the upload limit.")
EMPTY = N_("This file is empty.")
NO_COLUMN = N_(
    "No column of this file names a person: map a LinkedIn URL column, or first name, last name "
    "and company name or domain columns."
)


class LeadsError(Exception):
    """An upload the web app refuses; ``message`` is a catalogue message id."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def stored_name(filename: str) -> str:
    """The name the upload is kept under: ``input`` plus its (known) suffix, nothing of the user's."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".xlsx":
        return "input.xlsx"
    return "input" + (suffix if suffix in FORMAT_SUFFIXES else ".csv")


async def save_stream(chunks: AsyncIterator[bytes], dest: Path, limit: int) -> int:
    """Write ``chunks`` to ``dest``, refusing (and deleting it) past ``limit`` bytes; the size."""
    size = 0
    with open(dest, "wb") as handle:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                handle.close()
                dest.unlink(missing_ok=True)
                raise LeadsError(TOO_LARGE)
            handle.write(chunk)
    return size


def xlsx_to_csv(source: Path, dest: Path) -> None:
    """The first sheet of a workbook as CSV, streamed (the XLSX reader of ``trova bulk`` and ``import``)."""
    try:
        with open(dest, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            for cells in sheet_rows(source):
                writer.writerow(cells)
    except NotAWorkbook:
        dest.unlink(missing_ok=True)
        raise LeadsError(NOT_A_SPREADSHEET) from None


def open_table(path: Path) -> Table:
    """The table of a saved upload (an XLSX is read from its CSV copy); refusals as :class:`LeadsError`."""
    if path.suffix == ".xlsx":
        converted = path.with_suffix(".csv")
        if not converted.exists():
            xlsx_to_csv(path, converted)
        path = converted
    if path.stat().st_size == 0:
        raise LeadsError(EMPTY)
    try:
        return Table.open(path)
    except TableError as error:
        if "empty" in str(error):
            raise LeadsError(EMPTY) from None
        raise LeadsError(NOT_A_SPREADSHEET) from None


@dataclass(frozen=True)
class Preview:
    columns: list[str]
    first_rows: list[list[str]]
    mapping: dict[str, str]
    plan: Plan
    usable_mapping: bool

    @property
    def searches(self) -> int:
        return len(self.plan.searches)

    @property
    def duplicates(self) -> int:
        return self.plan.rows - self.plan.unusable_rows - len(self.plan.searches)

    @property
    def batches(self) -> int:
        return self.plan.chunk_count


def clean_mapping(columns: Sequence[str], wanted: Mapping[str, str]) -> dict[str, str]:
    """A mapping from the preview's form: known columns to known fields, each field once."""
    mapping: dict[str, str] = {}
    for column in columns:
        field = wanted.get(column, "")
        if field in SEARCH_FIELDS and field not in mapping.values():
            mapping[column] = field
    return mapping


def batch_size(max_searches_per_batch: int) -> int:
    return min(MAX_BATCH_SIZE, max_searches_per_batch)


def preview(table: Table, mapping: Mapping[str, str] | None, size: int) -> Preview:
    """Columns, the first rows, the mapping (detected when ``None``) and the plan of every row."""
    try:
        columns = list(table.scan_columns())
        first = [
            [record.values.get(column, "") for column in columns]
            for record in islice(table.records(), PREVIEW_ROWS)
        ]
        chosen = auto_mapping(columns) if mapping is None else dict(mapping)
        usable = identifies_someone(set(chosen.values()))
        plan = build_plan(table, chosen if usable else {}, size)
    except TableError:
        raise LeadsError(NOT_A_SPREADSHEET) from None
    if not columns:
        raise LeadsError(EMPTY)
    return Preview(columns, first, chosen, plan, usable)


NOTHING_TO_FIND = N_("No row of this file can be searched: every row is invalid.")
