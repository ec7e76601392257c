"""The rows of an XLSX workbook's first sheet, streamed: the one XLSX reader of ``trova import``,
``trova bulk`` and the web app's uploads.

openpyxl's read-only mode parses the sheet's XML as it is iterated, so memory does not grow with the
number of rows; cells come out as the text a CSV export of the sheet would hold.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Generator
from pathlib import Path

XLSX_SUFFIXES = (".xlsx", ".xlsm")
ZIP_MAGIC = b"PK\x03\x04"


class NotAWorkbook(Exception):
    """The file cannot be read as an XLSX workbook; the message says why, in a few words."""


def looks_like_xlsx(path: Path, head: bytes) -> bool:
    """An ``.xlsx`` name, or a ZIP archive (what every workbook is)."""
    return path.suffix.lower() in XLSX_SUFFIXES or head.startswith(ZIP_MAGIC)


def cell_text(value: object) -> str:
    """A cell as text: dates in ISO form, whole floats without ``.0`` (numbers typed as numbers)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def sheet_rows(path: Path) -> Generator[list[str], None, None]:
    """Every row of the first sheet as text cells, streamed; :class:`NotAWorkbook` if it is none.

    Trailing empty cells are dropped, so a row is as wide as its last non-empty cell.
    """
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        reason = "not a ZIP archive" if isinstance(exc, zipfile.BadZipFile) else "no workbook inside"
        raise NotAWorkbook(reason) from None
    try:
        if not book.worksheets:
            raise NotAWorkbook("no sheet")
        for row in book.worksheets[0].iter_rows(values_only=True):
            cells = [cell_text(value) for value in row]
            while cells and not cells[-1]:
                cells.pop()
            yield cells
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise NotAWorkbook(f"unreadable sheet: {exc}") from None
    finally:
        book.close()
