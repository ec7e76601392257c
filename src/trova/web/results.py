"""What a run found, row by row: its batches read through the batches service, joined to the file.

Each row of the uploaded file gets the bulk tool's four columns (``phone``, ``phone_country``,
``phone_line_type``, ``phone_status``); downloads keep the input columns in input order and
neutralise formula injection in the input cells (OWASP: a cell starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return is prefixed with ``'``); the added columns are Trova's own values (a
number in E.164 form starts with ``+`` and stays as it is).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import Connection

from trova.accounts.models import Account
from trova.batches import service as batches
from trova.batches.models import SearchRow
from trova.bulk.engine import ADDED_COLUMNS
from trova.bulk.tabular import Record, Table
from trova.web.runs import Upload

RowFilter = Literal["all", "found", "not_found", "invalid"]
FILTERS: tuple[RowFilter, ...] = ("all", "found", "not_found", "invalid")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class RunState:
    status: str
    requested: int
    finished: int
    found: int
    cost: int

    @property
    def percent(self) -> int:
        return 100 if not self.requested else int(100 * self.finished / self.requested)


def state_of(conn: Connection, account: Account, upload: Upload) -> RunState:
    """Status and counters over the run's batches (404 when one is not this account's)."""
    statuses, requested, finished, found, cost = [], 0, 0, 0, 0
    for batch_id in upload.batch_ids:
        batch, found_here = batches.progress_of(conn, account, batch_id)
        statuses.append(batch.status)
        requested += batch.requested
        finished += batch.finished
        found += found_here
        if batch.status != "ongoing":
            cost += batches.batch_cost(conn, batch_id)[0]
    if "ongoing" in statuses:
        status = "ongoing"
    elif statuses and all(s == "failed" for s in statuses):
        status = "failed"
    else:
        status = "completed"
    return RunState(status, requested, finished, found, cost)


def answers_of(conn: Connection, account: Account, upload: Upload) -> dict[int, SearchRow]:
    """Search index (the plan's) -> its stored result, for the batches that are finished."""
    answers: dict[int, SearchRow] = {}
    for part, batch_id in enumerate(upload.batch_ids):
        report = batches.get_bulk(conn, account, batch_id)
        for row in report.rows:
            answers[part * upload.batch_size + row.index] = row
    return answers


def added_columns(code: int, upload: Upload, answers: dict[int, SearchRow]) -> dict[str, str]:
    """The bulk tool's added columns (``bulk.engine.ADDED_COLUMNS``) for one row of the upload."""
    empty = dict.fromkeys(ADDED_COLUMNS[:-1], "")
    if code < 0:
        reason = upload.reasons[-1 - code] if -1 - code < len(upload.reasons) else ""
        return {**empty, "phone_status": f"invalid_input: {reason}"}
    row = answers.get(code)
    if row is None or row.status != "done":
        return {**empty, "phone_status": "pending"}
    if row.qualification != "found" or row.number is None:
        return {**empty, "phone_status": "not_found"}
    return {"phone": row.number, "phone_country": row.country or "", "phone_line_type": row.line_type or "",
            "phone_sources": ";".join(row.source_names), "phone_last_seen": row.last_seen or "",
            "phone_status": "found"}


def kind_of(code: int, answers: dict[int, SearchRow]) -> RowFilter:
    if code < 0:
        return "invalid"
    row = answers.get(code)
    found = row is not None and row.qualification == "found" and row.number is not None
    return "found" if found else "not_found"


@dataclass(frozen=True, slots=True)
class ResultRow:
    position: int
    line: int
    cells: list[str]
    added: dict[str, str]

    @property
    def kind(self) -> RowFilter:
        status = self.added["phone_status"]
        if status.startswith("invalid_input"):
            return "invalid"
        return "found" if status == "found" else "not_found"


def result_rows(
    table: Table, codes: Sequence[int], upload: Upload, answers: dict[int, SearchRow]
) -> Iterator[ResultRow]:
    columns = table.columns
    for position, (record, code) in enumerate(zip(table.records(), codes, strict=False)):
        added = added_columns(int(code), upload, answers)
        yield ResultRow(position, record.line, _cells(record, columns), added)


def _cells(record: Record, columns: list[str]) -> list[str]:
    return [record.values.get(column, "") for column in columns]


def page_of(
    table: Table, codes: Sequence[int], upload: Upload, answers: dict[int, SearchRow],
    wanted: RowFilter, page: int, per_page: int,
) -> tuple[list[ResultRow], int]:
    """One page of the rows of kind ``wanted`` and how many such rows there are; the file is read
    only up to the last row shown."""
    positions = range(len(codes)) if wanted == "all" else [
        i for i, code in enumerate(codes) if kind_of(code, answers) == wanted
    ]
    shown = set(positions[(page - 1) * per_page : page * per_page])
    kept: list[ResultRow] = []
    if shown:
        last = max(shown)
        for position, record in enumerate(table.records()):
            if position in shown:
                code = codes[position]
                kept.append(ResultRow(position, record.line, _cells(record, table.columns),
                                      added_columns(code, upload, answers)))
            if position >= last:
                break
    return kept, len(positions)


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def csv_lines(table: Table, rows: Iterator[ResultRow]) -> Iterator[bytes]:
    """The enriched file as CSV (UTF-8 with BOM, for spreadsheets), a line at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(c) for c in [*table.columns, *ADDED_COLUMNS]])
    yield ("\ufeff" + buffer.getvalue()).encode()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([*(neutralise(c) for c in row.cells), *(row.added[c] for c in ADDED_COLUMNS)])
        yield buffer.getvalue().encode()


def write_xlsx(table: Table, rows: Iterator[ResultRow], dest: Path) -> None:
    """The enriched file as one XLSX sheet (write-only mode: rows are not kept in memory)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("results")
    sheet.append([neutralise(c) for c in [*table.columns, *ADDED_COLUMNS]])
    for row in rows:
        sheet.append([*(neutralise(c) for c in row.cells), *(row.added[c] for c in ADDED_COLUMNS)])
    book.save(dest)
