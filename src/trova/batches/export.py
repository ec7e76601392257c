"""A bulk batch's results as CSV (``GET /phone/bulk/export``): the columns of ``trova bulk``'s output,
with the search's own fields standing in for the lead file's columns, which the server never had.

The rows come in pages (:func:`trova.batches.lookups.result_page`) and leave as one block of CSV per
page, so a 3,000-search batch or a much larger one is exported in constant memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from trova.batches.models import SearchRow
from trova.people.columns import RESULT_COLUMNS, SEARCH_COLUMNS
from trova.people.normalise import search_param_text

EXPORT_COLUMNS = ("index", "id", *SEARCH_COLUMNS, *RESULT_COLUMNS)
EXPORT_FORMATS = ("csv",)


def status_of(row: SearchRow) -> str:
    """``pending`` until done; then ``found`` only with a number (an erased number reads not found)."""
    if row.status != "done":
        return "pending"
    return "found" if row.qualification == "found" and row.number is not None else "not_found"


def export_cells(row: SearchRow) -> list[str]:
    """One CSV row: index, search id, the search's fields, then the result columns of ``trova bulk``."""
    params = row.params if isinstance(row.params, dict) else {}
    status = status_of(row)
    found = status == "found"
    result = [
        row.number or "", row.country or "", row.line_type or "", ";".join(row.source_names),
        row.last_seen or "",
    ] if found else [""] * 5
    return [str(row.index), row.id, *(search_param_text(params, c) for c in SEARCH_COLUMNS), *result, status]


def csv_blocks(pages: Iterable[Sequence[SearchRow]]) -> Iterator[bytes]:
    """The header, then one UTF-8 block of CSV per page of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    yield buffer.getvalue().encode()
    for page in pages:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(export_cells(row) for row in page)
        yield buffer.getvalue().encode()
